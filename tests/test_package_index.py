"""The package index fixture's wheels and pages, read by the real pip from a file:// index
(no root needed): what the sandbox installs over the network is these same files."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import re
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from tests.package_index import PackageIndex, build_wheel


def pip_install(index: PackageIndex, target: Path, *names: str) -> subprocess.CompletedProcess:
    """This venv's pip installing `names` into `target` from `index` alone: no cache, and none
    of the machine's pip settings (its config and PIP_* variables name other indexes)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    return subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-cache-dir", "--target", str(target),
         "--index-url", index.url, *names],
        env=env, capture_output=True, text=True, timeout=120)


def test_pip_installs_a_package_and_its_dependencies_and_they_import(tmp_path):
    index = PackageIndex(tmp_path / "index")
    name = index.add_probes(3)
    index.add("Orca_Greeter.Plus", "2.0", "def greet():\n    return 'hello'\n")
    target = tmp_path / "site"
    installed = pip_install(index, target, name, "orca-greeter-plus")
    assert installed.returncode == 0, installed.stderr
    found = {d.metadata["Name"]: d for d in metadata.distributions(path=[str(target)])}
    assert sorted(found) == ["Orca_Greeter.Plus", "orca-probe-000", "orca-probe-001",
                             "orca-probe-002", "orca-probe-all"]
    assert found["orca-probe-all"].requires == [
        "orca-probe-000==1.0", "orca-probe-001==1.0", "orca-probe-002==1.0"]
    assert found["Orca_Greeter.Plus"].version == "2.0"
    imported = subprocess.run(
        [sys.executable, "-c", "import orca_probe_all, orca_greeter_plus; "
         "print(orca_probe_all.NUMBERS, orca_greeter_plus.greet())"],
        env={"PYTHONPATH": str(target)}, capture_output=True, text=True, check=True)
    assert imported.stdout == "[0, 1, 2] hello\n"


def test_a_wheel_that_changed_after_it_was_listed_is_refused(tmp_path):
    """pip checks each link's #sha256= against the bytes it fetched: the listed digests are
    real, or every install from the index would fail like this."""
    index = PackageIndex(tmp_path / "index")
    wheel = index.add("orca-greeter", "1.0", "GREETING = 'hello'\n")
    build_wheel(wheel.parent, "orca-greeter", "1.0", {"orca_greeter.py": "GREETING = 'pwned'\n"})
    target = tmp_path / "site"
    installed = pip_install(index, target, "orca-greeter")
    assert installed.returncode != 0
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in installed.stderr
    assert not (target / "orca_greeter.py").exists()


def test_each_wheel_records_every_file_it_holds_with_its_digest_and_size(tmp_path):
    """The wheel format's RECORD, read back independently (pip trusts it without checking)."""
    index = PackageIndex(tmp_path / "index")
    index.add_probes(2)
    wheels = sorted((tmp_path / "index" / "simple").glob("*/*.whl"))
    assert [w.name for w in wheels] == ["orca_probe_000-1.0-py3-none-any.whl",
                                        "orca_probe_001-1.0-py3-none-any.whl",
                                        "orca_probe_all-1.0-py3-none-any.whl"]
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            assert archive.testzip() is None
            stem = wheel.name.removesuffix("-py3-none-any.whl")
            rows = list(csv.reader(io.StringIO(archive.read(f"{stem}.dist-info/RECORD").decode())))
            assert sorted(row[0] for row in rows) == sorted(archive.namelist())
            for path, digest, size in rows:
                if path == f"{stem}.dist-info/RECORD":
                    assert (digest, size) == ("", "")
                    continue
                data = archive.read(path)
                expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
                assert (digest, size) == (f"sha256={expected.decode()}", str(len(data)))
            assert "Tag: py3-none-any" in archive.read(f"{stem}.dist-info/WHEEL").decode()


def test_pages_link_each_project_and_each_wheel_with_its_sha256(tmp_path):
    index = PackageIndex(tmp_path / "index")
    index.add("orca-greeter", "1.0", "")
    wheel = index.add("orca-greeter", "1.1", "")
    simple = tmp_path / "index" / "simple"
    assert re.findall(r'href="([^"]+)"', (simple / "index.html").read_text()) == ["orca-greeter/"]
    links = re.findall(r'href="([^"]+)"', (simple / "orca-greeter" / "index.html").read_text())
    assert links[1] == f"{wheel.name}#sha256={hashlib.sha256(wheel.read_bytes()).hexdigest()}"
    assert links[0].startswith("orca_greeter-1.0-py3-none-any.whl#sha256=")
    assert index.url == simple.as_uri() and index.pip_options == f"--index-url {simple.as_uri()}"
