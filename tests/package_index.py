"""A Python package index of our own, reachable only over the sandbox's network.

The machine is offline and the sandbox's egress refuses every address of ours, so a setup that
runs `pip install` needs an index on a "public" address: the stand-in public host
(tests/hostile/public_host.py) serves this one's directory over HTTP. It is a PEP 503 "simple"
index (https://peps.python.org/pep-0503/): `/simple/<normalized name>/` lists a project's
wheels, each link carrying its `#sha256=` digest, which pip checks.

The wheels are built here with the standard library only (https://packaging.python.org/en/
latest/specifications/binary-distribution-format/): pure Python, `py3-none-any`, with the
`.dist-info` files pip reads (METADATA, WHEEL) and the RECORD of every file's digest.

    index.add("orca-greeter", "1.0", "def greet():\n    return 'hi'\n")
    name = index.add_probes(30)  # orca-probe-000..029, and "orca-probe-all" needing them all
    f".venv/bin/pip install {index.pip_options} {name}"
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.hostile.public_host import require_namespaces, stand_up

ALL_PROBES = "orca-probe-all"
# A fixed date for every file in a wheel, so the same package builds to the same bytes.
ZIP_DATE = (2020, 1, 1, 0, 0, 0)


def normalized(name: str) -> str:
    """A project's name as the index spells it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _record_digest(data: bytes) -> str:
    """RECORD's spelling of a digest: urlsafe base64 without padding."""
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(directory: Path, name: str, version: str, modules: dict[str, str],
                dependencies: Iterable[str] = ()) -> Path:
    """A pure-Python wheel in `directory` holding `modules` (file name in the wheel → source)."""
    stem = f"{normalized(name).replace('-', '_')}-{version}"
    info = f"{stem}.dist-info"
    metadata = "".join([f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
                        *(f"Requires-Dist: {d}\n" for d in dependencies)])
    files = {**{path: source.encode() for path, source in modules.items()},
             f"{info}/METADATA": metadata.encode(),
             f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: orca-tests\n"
                              b"Root-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{path},{_record_digest(data)},{len(data)}\n" for path, data in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    wheel = directory / f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            entry = zipfile.ZipInfo(path, ZIP_DATE)
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, data, zipfile.ZIP_DEFLATED)
    return wheel


class PackageIndex:
    """A simple index under `root`/simple: served at `address` over HTTP, or read as files."""

    def __init__(self, root: Path, address: str | None = None) -> None:
        self.root = root
        self.address = address
        """The public address serving it (None: not served, `url` is a file:// URL)."""
        (root / "simple").mkdir(parents=True, exist_ok=True)
        self._write_root_page()

    @property
    def url(self) -> str:
        """What pip's --index-url takes: http://198.51.100.x/simple, or file:///.../simple."""
        if self.address is None:
            return (self.root / "simple").as_uri()
        return f"http://{self.address}/simple"

    @property
    def pip_options(self) -> str:
        """pip's options for installing from this index only (plain HTTP must be trusted)."""
        trusted = f" --trusted-host {self.address}" if self.address else ""
        return f"--index-url {self.url}{trusted}"

    def add(self, name: str, version: str, module_source: str,
            dependencies: Iterable[str] = ()) -> Path:
        """Builds `name` as one module named after it (orca-greeter: orca_greeter.py) and lists
        it on its page; returns the wheel."""
        module = normalized(name).replace("-", "_")
        project = self.root / "simple" / normalized(name)
        project.mkdir(exist_ok=True)
        wheel = build_wheel(project, name, version, {f"{module}.py": module_source},
                            dependencies)
        self._write_project_page(project)
        self._write_root_page()
        return wheel

    def add_probes(self, count: int, version: str = "1.0") -> str:
        """orca-probe-000.. (module orca_probe_NNN, NUMBER = NNN) and orca-probe-all, whose
        NUMBERS imports them all and which depends on them all; returns its name."""
        names = [f"orca-probe-{n:03}" for n in range(count)]
        for n, name in enumerate(names):
            self.add(name, version, f"NUMBER = {n}\n")
        self.add(ALL_PROBES, version,
                 "import importlib\n\nNUMBERS = [importlib.import_module(f'orca_probe_{n:03}')"
                 f".NUMBER for n in range({count})]\n", [f"{n}=={version}" for n in names])
        return ALL_PROBES

    def _write_project_page(self, project: Path) -> None:
        links = "".join(
            f'<a href="{html.escape(w.name)}#sha256={hashlib.sha256(w.read_bytes()).hexdigest()}">'
            f"{html.escape(w.name)}</a><br>\n" for w in sorted(project.glob("*.whl")))
        _page(project, f"Links for {project.name}", links)

    def _write_root_page(self) -> None:
        simple = self.root / "simple"
        links = "".join(f'<a href="{p.name}/">{p.name}</a><br>\n'
                        for p in sorted(simple.iterdir()) if p.is_dir())
        _page(simple, "Simple index", links)


def _page(directory: Path, title: str, body: str) -> None:
    """directory/index.html, which the public host's file server answers for directory/."""
    (directory / "index.html").write_text(
        f"<!DOCTYPE html>\n<html><head><title>{title}</title></head><body>\n{body}</body></html>\n")


@contextmanager
def served_index(scratch: Path) -> Iterator[PackageIndex]:
    """A PackageIndex under `scratch`, served by a stand-in public host (root only)."""
    root = scratch / "package-index"
    root.mkdir()
    with stand_up(scratch, serve=root) as host:
        yield PackageIndex(root, host.far["public"])


@pytest.fixture
def package_index(tmp_path: Path) -> Iterator[PackageIndex]:
    """An empty PackageIndex served on a public address; packages added later are served too."""
    require_namespaces()
    with served_index(tmp_path) as index:
        yield index
