"""Base results kept per repository: keyed, bounded, and never trusted past what they are."""

from __future__ import annotations

import os

import pytest

from jobs.verify.cache import BaseResults, result_key
from jobs.verify.results import Counts, TestRun

SHA = "a" * 40


def run(tests=None, timed_out=False, bounds=(), tail="1 passed in 0.1s") -> TestRun:
    return TestRun("pytest -q", None if timed_out else 0, timed_out, 1.5, tail,
                   Counts(passed=1), tests if tests is not None else {"t::a": "passed"},
                   "", bounds)


def test_a_result_comes_back_as_it_was_kept(tmp_path):
    store = BaseResults(tmp_path, 42)
    key = result_key(SHA, "pytest -q", ["pip install -e ."], "tool1")
    assert store.get(key) is None
    assert store.put(key, run())
    again = store.get(key)
    assert again == run() and again.tests == {"t::a": "passed"}
    assert (tmp_path / "test-results" / "42" / f"{key}.json").is_file()
    assert BaseResults(tmp_path, 43).get(key) is None  # never shared between repositories


def test_the_key_names_commit_command_setup_and_toolchain():
    keys = {result_key(SHA, "pytest -q", [], "t1"), result_key("b" * 40, "pytest -q", [], "t1"),
            result_key(SHA, "pytest", [], "t1"), result_key(SHA, "pytest -q", ["make"], "t1"),
            result_key(SHA, "pytest -q", [], "t2")}
    assert len(keys) == 5 and all(len(k) == 32 and k.isalnum() for k in keys)


@pytest.mark.parametrize("result", [run(timed_out=True), run(bounds=("out of memory (4 GiB)",))])
def test_a_run_that_timed_out_or_hit_a_bound_is_not_kept(tmp_path, result):
    store = BaseResults(tmp_path, 1)
    assert not store.put(result_key(SHA, "x", [], "t"), result)
    assert not (tmp_path / "test-results" / "1").exists()


def test_least_recently_used_results_go_first_within_count_and_bytes(tmp_path):
    store = BaseResults(tmp_path, 1, max_entries=3, max_bytes=10_000_000)
    keys = [result_key(str(i) * 40, "x", [], "t") for i in range(4)]
    for age, key in enumerate(keys[:3]):
        store.put(key, run())
        path = store.root / f"{key}.json"
        os.utime(path, (1000 + age, 1000 + age))
    assert store.get(keys[0]) is not None  # used: now the most recent
    store.put(keys[3], run())
    assert [store.get(k) is not None for k in keys] == [True, False, True, True]

    small = BaseResults(tmp_path, 2, max_entries=100, max_bytes=8_000)
    big = run(tests={f"tests/test_{i}.py::t": "passed" for i in range(20)})  # ~700 bytes
    for i in range(20):
        small.put(result_key(str(i) * 40, "x", [], "t"), big)
    assert sum(p.stat().st_size for p in small.root.glob("*.json")) <= 8_000
    assert not small.put(result_key(SHA, "x", [], "t"),
                         run(tests={f"t{i}": "passed" for i in range(500)}))  # > a quarter


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"command": 1}', b"[]",
                                     b'{"command": "x", "exit_code": 0, "timed_out": false, '
                                     b'"seconds": 1, "output_tail": "", "counts": null, '
                                     b'"tests": {"a": "exploded"}, "per_test_note": "", "bounds": []}'])
def test_a_damaged_entry_is_a_miss(tmp_path, content):
    store = BaseResults(tmp_path, 1)
    key = result_key(SHA, "x", [], "t")
    store.root.mkdir(parents=True)
    (store.root / f"{key}.json").write_bytes(content)
    assert store.get(key) is None


def test_keys_are_ours_only(tmp_path):
    with pytest.raises(ValueError):
        BaseResults(tmp_path, 1).get("../../etc/passwd")
