"""TAXII 2.1 push and pull against a real medallion server (the OASIS reference) on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from distillguard.cli import main

COLLECTION = "9cfa669c-ee94-4ece-afd2-f8edac37d8fd"
USER, PASSWORD = "partner", "taxii-test-password"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_files(root: Path, port: int) -> Path:
    """medallion's memory backend: discovery, one API root, one writable 2.1 collection."""
    base = f"http://127.0.0.1:{port}"
    data = {
        "/discovery": {"title": "test TAXII", "default": f"{base}/share/",
                       "api_roots": [f"{base}/share/"]},
        "share": {
            "information": {"title": "sharing group", "max_content_length": 10_000_000,
                            "versions": ["application/taxii+json;version=2.1"]},
            "status": [],
            "collections": [{
                "id": COLLECTION, "title": "distillation indicators", "can_read": True,
                "can_write": True, "media_types": ["application/stix+json;version=2.1"],
                "objects": [], "manifest": []}],
        },
    }
    (root / "data.json").write_text(json.dumps(data))
    # medallion 3.0 reads "module" and "module_class" (medallion/__init__.py connect_to_backend).
    config = {"backend": {"module": "medallion.backends.memory_backend",
                          "module_class": "MemoryBackend", "filename": str(root / "data.json")},
              "users": {USER: PASSWORD}, "taxii": {"max_page_size": 100}}
    (root / "config.json").write_text(json.dumps(config))
    return root / "config.json"


@pytest.fixture
def medallion(tmp_path):
    exe = shutil.which("medallion") or str(Path(sys.executable).parent / "medallion")
    if not Path(exe).exists():
        pytest.skip("medallion is not installed (pip install 'distillguard[share]')")
    port = _free_port()
    config = _server_files(tmp_path, port)
    proc = subprocess.Popen([exe, "--host", "127.0.0.1", "--port", str(port), str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/share/collections/{COLLECTION}/"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/taxii2/", timeout=1)
        except urllib.error.HTTPError:
            break  # 401: it answers (and wants credentials)
        except OSError:
            time.sleep(0.2)
            continue
        break
    else:
        proc.kill()
        pytest.fail("medallion did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out + out.err


def test_push_then_pull_into_a_store(medallion, partner_run, key_file, tmp_path, capsys,
                                     monkeypatch):
    monkeypatch.setenv("DISTILLGUARD_TAXII_PASSWORD", PASSWORD)
    bundle = tmp_path / "b.json"
    code, msg = _run(["export", "stix", str(partner_run["findings"]), "--out", str(bundle),
                      "--key-file", str(key_file)], capsys)
    assert code == 0, msg
    objects = json.loads(bundle.read_text())["objects"]
    n_objects = sum(o["type"] != "extension-definition" for o in objects)
    code, msg = _run(["taxii", "push", str(bundle), "--collection", medallion, "--user", USER],
                     capsys)
    assert code == 0, msg
    assert f"{n_objects} added, 0 refused" in msg
    store = tmp_path / "store"
    code, msg = _run(["taxii", "pull", "--collection", medallion, "--user", USER,
                      "--store", str(store), "--key-file", str(key_file)], capsys)
    assert code == 0, msg
    assert f"pulled {n_objects} objects" in msg
    n_ind = sum(o["type"] == "indicator" for o in json.loads(bundle.read_text())["objects"])
    assert f"imported {n_ind} indicators" in msg


def test_wrong_password_is_one_clear_line(medallion, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DISTILLGUARD_TAXII_PASSWORD", "wrong")
    code, msg = _run(["taxii", "pull", "--collection", medallion, "--user", USER,
                      "--store", str(tmp_path / "s")], capsys)
    assert code == 2 and "refused or failed" in msg and "Traceback" not in msg
