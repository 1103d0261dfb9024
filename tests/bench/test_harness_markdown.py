"""bench.md's per-campaign and per-persona tables: a row per detector, a dash where a
detector has no figure, and the group sizes under each table."""

from __future__ import annotations

from distillguard.bench.harness import _campaign_lines, _persona_lines, _run_lines

CAMPAIGN = {
    "n": 12,
    "found_attack": 0.75,
    "found_flagged": 1.0,
    "in_pure_clusters": 0.5,
    "mean_purity": 0.97,
}
PERSONA = {"n": 30, "attack_fpr": 0.0, "flag_fpr": 0.1}
DETECTORS = {
    "distillguard": {
        "run": {"embedder": "hashing", "notes": "default"},
        "params": {"k": 2},
        "metrics": {"campaigns": {"A": CAMPAIGN, "B": CAMPAIGN}, "personas": {"teacher": PERSONA}},
    },
    "fraudar": {"run": {}, "error": "out of memory", "metrics": {"campaigns": {"A": CAMPAIGN}}},
}


def test_campaign_table_has_a_row_per_detector_and_a_dash_for_missing() -> None:
    lines = _campaign_lines(DETECTORS)
    table = lines[3].splitlines()
    assert table[0].startswith("| detector | A | B |")
    assert table[2].startswith("| distillguard | 75.0% / 100.0%; pure 50.0%; purity 0.97 |")
    assert table[3].endswith("| — |")
    assert lines[-1] == "Campaign sizes: A 12, B 12"


def test_persona_table_and_sizes() -> None:
    lines = _persona_lines(DETECTORS)
    assert lines[1] == "### Benign personas: `attack`-verdict FPR (attack-or-review FPR)"
    rows = lines[3].splitlines()
    assert rows[2] == "| distillguard | 0.0% (10.0%) |"
    assert rows[3] == "| fraudar | — |"
    assert lines[-1] == "Persona sizes: teacher 30"


def test_no_metrics_no_tables_and_each_run_said() -> None:
    assert _campaign_lines({"x": {"run": {}}}) == [] == _persona_lines({"x": {"run": {}}})
    runs = _run_lines(DETECTORS)
    assert runs[3] == '- **distillguard** (embedder `hashing`): default — params `{"k": 2}`'
    assert runs[4] == "- **fraudar**:  — error: out of memory"
