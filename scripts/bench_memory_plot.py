"""Plot ``scripts/bench_memory.py`` timelines: the tree's RSS and PSS, the main process and the
featurize workers over time, one panel per run, stages marked, the 1.5 GiB target drawn.

    python scripts/bench_memory_plot.py OUT.png|OUT.svg LABEL=TIMELINE.csv [LABEL=TIMELINE.csv ...]

Needs matplotlib (not a distillguard dependency: any Python that has it).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

TARGET_MIB = 1536.0
SERIES = (("rss", "tree RSS"), ("pss", "tree PSS"), ("main_rss", "main RSS"),
          ("workers_rss", "workers RSS (sum)"))


def read(path: Path) -> dict[str, list]:
    """Columns of a timeline CSV (numbers as floats, ``stage`` as text)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    cols: dict[str, list] = {k: [] for k in rows[0]}
    for r in rows:
        for k, v in r.items():
            cols[k].append(v if k == "stage" else float(v))
    return cols


def stage_spans(t: list[float], stages: list[str]) -> list[tuple[str, float, float]]:
    """(stage, start, end) runs of consecutive samples."""
    spans: list[tuple[str, float, float]] = []
    for i, s in enumerate(stages):
        if spans and spans[-1][0] == s:
            spans[-1] = (s, spans[-1][1], t[i])
        else:
            spans.append((s, t[i], t[i]))
    return spans


def plot(out: Path, runs: list[tuple[str, Path]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(runs), 1, figsize=(11, 3.6 * len(runs)), squeeze=False)
    for ax, (label, path) in zip(axes[:, 0], runs, strict=True):
        c = read(path)
        t = [x / 60 for x in c["t"]]
        for key, name in SERIES:
            ax.plot(t, c[key], label=name, lw=1.2)
        if "shm" in c:  # the run's /dev/shm files: memory RSS shows only where mapped
            ax.plot(t, [p + s for p, s in zip(c["pss"], c["shm"], strict=True)],
                    label="tree PSS + /dev/shm", lw=0.8, ls=":")
        ax.axhline(TARGET_MIB, color="red", ls="--", lw=1, label="target 1.5 GiB")
        for i, (s, a, b) in enumerate(stage_spans(t, c["stage"])):
            if b - a > 0.02 * (t[-1] or 1):
                ax.axvspan(a, b, color="grey", alpha=0.08 if i % 2 else 0.0)
                ax.text((a + b) / 2, ax.get_ylim()[1] * 0.97, s, ha="center", va="top",
                        fontsize=7, rotation=90)
        peak = max(c["rss"])
        ax.set_title(f"{label}: tree peak RSS {peak:,.0f} MiB, PSS {max(c['pss']):,.0f} MiB")
        ax.set_xlabel("minutes")
        ax.set_ylabel("MiB")
        ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    target = Path(sys.argv[1])
    pairs = [a.split("=", 1) for a in sys.argv[2:]]
    plot(target, [(k, Path(v)) for k, v in pairs])
