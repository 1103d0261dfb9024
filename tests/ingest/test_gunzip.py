"""The gzip reader gives the same lines and the same break through zlib and through ISA-L."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import pytest

from distillguard.ingest import readers

BACKENDS = [pytest.param(zlib, id="zlib")]
try:
    from isal import isal_zlib

    BACKENDS.append(pytest.param(isal_zlib, id="isal"))
except ImportError:  # the ``speed`` extra is optional
    pass


def _lines(n: int, tag: str) -> bytes:
    return b"".join(b'{"n": %d, "tag": "%s"}\n' % (i, tag.encode()) for i in range(n))


def _read(path: Path) -> tuple[list[str], BaseException | None]:
    """Every line the reader yields, and the break it ends with (None when it ends well)."""
    got: list[str] = []
    try:
        for batch in readers.iter_jsonl(readers.InputFile(path, "jsonl", gzip=True)):
            got += batch.column("line").to_pylist()
    except readers.TruncatedFileError as exc:
        return got, exc
    return got, None


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    monkeypatch.setattr(readers, "_inflate", request.param)
    monkeypatch.setattr(readers, "INFLATE_ERRORS", (zlib.error, request.param.error))
    return request.param


def test_members_and_blocks_read_whole(tmp_path, backend):
    # two members, the first larger than a read and a block: lines cross every boundary
    first, second = _lines(60_000, "a"), _lines(3, "b")
    path = tmp_path / "two.jsonl.gz"
    path.write_bytes(gzip.compress(first) + gzip.compress(second))
    got, broken = _read(path)
    assert broken is None
    assert got == (first + second).decode().splitlines()


@pytest.mark.parametrize("where", ["checksum", "cut"])
def test_a_broken_file_keeps_its_lines_before_the_break(tmp_path, backend, where):
    data = bytearray(gzip.compress(_lines(50_000, "c")))
    if where == "checksum":
        data[-6] ^= 0xFF  # the CRC-32 trailer: every line inflates, the check fails at the end
    else:
        data = data[: len(data) // 2]
    path = tmp_path / "broken.jsonl.gz"
    path.write_bytes(bytes(data))
    got, broken = _read(path)
    assert isinstance(broken, readers.TruncatedFileError)
    assert isinstance(broken.cause, (EOFError, *readers.INFLATE_ERRORS))
    assert broken.line_no == len(got) + 1
    expected = _lines(50_000, "c").decode().splitlines()
    assert got == expected[: len(got)] and len(got) < len(expected)
    if where == "cut":
        assert len(got) > 0
    # the same lines and the same break line as Python's zlib gives
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(readers, "_inflate", zlib)
        mp.setattr(readers, "INFLATE_ERRORS", (zlib.error,))
        ref, ref_broken = _read(path)
    assert got == ref and broken.line_no == ref_broken.line_no
