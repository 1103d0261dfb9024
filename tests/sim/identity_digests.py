"""Digests of the simulator's output files, to show a refactoring leaves every byte alone.

Usage: ``python tests/sim/identity_digests.py OUT.json [CONFIG ...]`` writes the digests of
each configuration (``tiny-1``, ``random-3``, ``small-1``, ``tiny-1-parquet`` ...) to OUT.json;
``--check BASE.json`` compares against a recorded run and exits 1 on any difference.
Run times vary, so ``sim_summary.json`` is hashed without its timing fields and with only the
last part of its corpora path; the preset's path in ``scenario.yaml``'s first line depends on
the checkout, so it is hashed as ``<presets>``.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

TIMING_KEYS = ("seconds", "plan_seconds", "requests_per_second")
DEFAULT_CONFIGS = ("tiny-1", "tiny-2", "tiny-3", "random-1", "random-2", "random-3")


def _file_digest(path: Path) -> str:
    from distillguard.sim.scenario import PRESET_DIR

    data = path.read_bytes()
    if path.name == "sim_summary.json":
        summary = {k: v for k, v in json.loads(data).items() if k not in TIMING_KEYS}
        # Where the corpora were read from depends on the checkout; which ones does not.
        summary["text_source"] = Path(str(summary.get("text_source", ""))).name
        data = json.dumps(summary, sort_keys=True).encode()
    elif path.name == "scenario.yaml":
        data = data.replace(str(PRESET_DIR).encode(), b"<presets>")
    return hashlib.sha256(data).hexdigest()[:16]


def _scenario_for(world: str, preset: str, seed: int):
    if world != "random":
        return world
    from distillguard.sim.world import Priors, draw_scenario

    return draw_scenario(preset, seed, Priors.load(None))


def config_digests(config: str, corpora: Path | None = None) -> dict[str, str]:
    """Digest per output file of one ``WORLD-SEED[-FORMAT]`` configuration; WORLD is a
    preset name or ``random`` (a random world of the tiny preset's size)."""
    from distillguard.sim import simulate

    world, seed, *rest = config.split("-")
    fmt = rest[0] if rest else "jsonl"
    scenario = _scenario_for(world, "tiny", int(seed))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        simulate(scenario, out=out, seed=int(seed), corpora=corpora, fmt=fmt, progress=False)
        return folder_digests(out)


def folder_digests(out: Path) -> dict[str, str]:
    """Digest per file of a simulated data set."""
    return {p.name: _file_digest(p) for p in sorted(out.iterdir())}


def main(argv: list[str]) -> int:
    check = None
    if argv[:1] == ["--check"]:
        check, argv = json.loads(Path(argv[1]).read_text()), argv[2:]
    out, configs = Path(argv[0]), argv[1:] or list(check or DEFAULT_CONFIGS)
    got = {c: config_digests(c) for c in configs}
    out.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    if check is None:
        return 0
    diff = [c for c in configs if got[c] != check.get(c)]
    print("identical" if not diff else f"DIFFERENT: {diff}")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
