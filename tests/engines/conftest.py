"""The Spark session shared by the Spark test modules (each skips itself without Java)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def spark():
    """The process's one local[2] session (the whole test run starts one JVM), emptied of
    temp views a previous module left: an ``ip_intel`` left by another module's pipeline run
    would be extended instead of built."""
    from distillguard.engines.spark.session import spark_session

    session = spark_session("local[2]", shuffle_partitions=4)
    for table in session.catalog.listTables():
        if table.isTemporary:
            session.catalog.dropTempView(table.name)
    return session
