"""Creating a SparkSession that runs the distillguard definitions.

Local mode (``local[2]``) is the default so tests and CI work on one machine with only a Java
runtime; on a cluster the same settings are passed by ``spark-submit`` (see docs/SPARK.md) and
:func:`spark_session` only adds what the user did not set.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import DistillguardError, InvalidParameterError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pyspark.sql import SparkSession

_LOCAL = re.compile(r"^local(\[(\d+|\*)(,\s*\d+)?\])?$")

# Settings that keep the SQL semantics close to DuckDB's and local runs small.
BASE_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # mapInArrow batches: large enough to amortise Python calls, small enough for memory.
    "spark.sql.execution.arrow.maxRecordsPerBatch": "8192",
    "spark.sql.session.timeZone": "UTC",
    # Without ANSI mode a division by zero or a bad cast gives NULL for that row; with it,
    # one odd record would abort the whole job. Definitions guard divisions with nullif().
    "spark.sql.ansi.enabled": "false",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
}


# Local-mode shuffle partitions: ~5 MB each for the largest shuffle of the `large` preset
# (14M band keys); adaptive execution coalesces them when the data is small.
LOCAL_SHUFFLE_PARTITIONS = 64


def missing_requirements() -> str | None:
    """Why the Spark engine cannot start here (no pyspark, no Java), or None when it can."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "the Spark engine needs pyspark: pip install 'distillguard[spark]'"
    try:
        import pandas  # noqa: F401  (pyspark's Arrow UDFs import it)
    except ImportError:
        return "the Spark engine needs pandas for Arrow UDFs: pip install 'pandas>=2.2,<3'"
    java = java_executable()
    if java is None:
        return (
            "the Spark engine needs a Java runtime (17 or newer): install one "
            "(e.g. apt-get install default-jre-headless) or set JAVA_HOME"
        )
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"the Java runtime at {java} does not start: {exc}"
    if out.returncode != 0:
        return f"the Java runtime at {java} does not start: {out.stderr.strip()[:200]}"
    return None


def java_executable() -> str | None:
    """The ``java`` Spark will use: ``$JAVA_HOME/bin/java`` or the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def local_cores(master: str) -> int | None:
    """Cores of a ``local[N]`` master (``local`` is 1, ``local[*]`` all), else None."""
    m = _LOCAL.match(master.strip())
    if not m:
        return None
    if m.group(2) is None:
        return 1
    if m.group(2) == "*":
        return os.cpu_count() or 1
    return int(m.group(2))


def spark_session(
    master: str | None = "local[2]",
    app_name: str = "distillguard",
    conf: dict[str, Any] | None = None,
    driver_memory: str = "2g",
    shuffle_partitions: int | None = None,
) -> SparkSession:
    """Get or create the SparkSession distillguard runs on.

    ``master=None`` leaves the master to ``spark-submit`` (cluster use). In local mode the
    Python workers use this interpreter and the one JVM is driver and executor at once: its
    heap (``2g``) holds every task's aggregation buffers. Shuffles use
    :data:`LOCAL_SHUFFLE_PARTITIONS` unless given, and adaptive execution merges the small
    ones, so small data still runs as a few tasks. (With ``2 × cores`` partitions and a 1 GiB
    heap the `large` preset's template aggregation spilled so often that reading the spill
    files back ran the heap out.)
    Raises :class:`DistillguardError` with one clear line when pyspark or Java is missing.
    """
    problem = missing_requirements()
    if problem:
        raise DistillguardError(problem)
    from pyspark.sql import SparkSession

    cores = local_cores(master) if master else None
    if master and cores is None and "://" not in master and master not in ("yarn",):
        raise InvalidParameterError(
            f"--master must be local, local[N], local[*], yarn or a URL like spark://host:7077 "
            f"or k8s://https://host; got {master!r}"
        )
    if cores is not None:
        # Workers must import distillguard and pyarrow: use this interpreter, not `python3`.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    settings = dict(BASE_CONF)
    settings["spark.driver.memory"] = driver_memory
    settings["spark.sql.shuffle.partitions"] = str(
        shuffle_partitions if shuffle_partitions else (LOCAL_SHUFFLE_PARTITIONS if cores else 200)
    )
    if cores is not None:
        settings["spark.default.parallelism"] = str(cores)
        settings["spark.driver.host"] = os.environ.get("SPARK_LOCAL_IP", "127.0.0.1")
        settings["spark.driver.bindAddress"] = "127.0.0.1"
    settings.update({k: str(v) for k, v in (conf or {}).items()})

    active = SparkSession.getActiveSession()
    if active is not None:
        want = master
        if want is None or active.sparkContext.master == want:
            for k, v in settings.items():
                if k.startswith("spark.sql."):
                    active.conf.set(k, v)
            return active
        active.stop()  # a different master was asked for (bench: local[1] vs local[2])

    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    for k, v in settings.items():
        builder = builder.config(k, v)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # JVM start failures surface as many exception types
        raise DistillguardError(f"Spark did not start ({master}): {exc}".splitlines()[0]) from exc
    spark.sparkContext.setLogLevel("ERROR")
    # A failed probe query (``SELECT * FROM t LIMIT 0`` to test whether t exists) is an
    # exception the caller handles; pyspark would also log its whole JVM stack trace.
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
    return spark
