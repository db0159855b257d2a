"""Reading what runners print: summary lines, JUnit XML and `go test -json`, hostile input
included."""

from __future__ import annotations

import json

import pytest

from jobs.verify.reports import MAX_ID_CHARS, MAX_REPORT_CHARS, go_events, junit
from jobs.verify.results import Counts
from jobs.verify.summary import summary_counts

SUMMARIES = [
    ("==== 2 failed, 41 passed, 1 skipped, 3 errors in 1.23s ====", Counts(41, 2, 3, 1)),
    ("41 passed in 0.12s", Counts(41)),
    ("41 passed, 1 warning in 75.20s (0:01:15)", Counts(41)),
    ("1 failed, 3 passed, 2 xfailed, 1 xpassed, 4 deselected in 0.5s", Counts(4, 1, 0, 2)),
    ("1 error in 0.05s", Counts(errors=1)),
    ("======= no tests ran in 0.01s =======", Counts()),
    ("\x1b[31m\x1b[1m1 failed\x1b[0m, \x1b[32m2 passed\x1b[0m\x1b[31m in 0.03s\x1b[0m",
     Counts(2, 1)),
    ("Test Suites: 1 failed, 3 passed, 4 total\n"
     "Tests:       1 failed, 2 skipped, 41 passed, 44 total\nTime: 2.1 s", Counts(41, 1, 0, 2)),
    (" Test Files  1 failed | 4 passed (5)\n      Tests  2 failed | 41 passed (43)",
     Counts(41, 2)),
    ("  41 passing (2s)\n  1 pending\n  2 failing\n\n  1) x\n     Error", Counts(41, 2, 0, 1)),
    ("# tests 43\n# suites 2\n# pass 41\n# fail 2\n# cancelled 0\n# skipped 0\n# todo 0",
     Counts(41, 2)),
    ("ℹ tests 5\nℹ pass 4\nℹ fail 1\nℹ skipped 0", Counts(4, 1)),
    ("test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out\n"
     "test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out",
     Counts(5, 1, 0, 1)),
    # the summary printed last wins over a runner's words quoted earlier by a test
    ("Tests: 9 failed, 9 total\nok\n3 passed in 0.1s", Counts(3)),
]


@pytest.mark.parametrize(("output", "counts"), SUMMARIES)
def test_summary_lines_give_counts(output, counts):
    assert summary_counts("lots of output\n" + output + "\n") == counts


@pytest.mark.parametrize("output", [
    "", "ok\n", "PASS src/x.test.js\n", "passed\n", "999999999999 passed in 1s",
    "Tests: all good", "=" * 50_000 + " 1 passed in 1s", "1 passed in 1s" + " " * 2_000 + "x",
])
def test_no_summary_no_counts(output):
    assert summary_counts(output) is None


def test_a_pathological_line_is_read_quickly():
    """No pattern backtracks badly on a long line of digits and words."""
    line = "1 passed, " * 90 + "1 passed in"  # no duration: no match, after a bounded search
    assert summary_counts((line + "\n") * 60) is None


PYTEST_XML = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">
<testsuite name="pytest" errors="0" failures="1" skipped="1" tests="5">
<testcase classname="tests.test_a" name="test_ok" file="tests/test_a.py" line="1" time="0.001"/>
<testcase classname="tests.test_a" name="test_bad" file="tests/test_a.py" line="3">
  <failure message="assert 0">tests/test_a.py:4: AssertionError</failure></testcase>
<testcase classname="tests.test_a" name="test_skip" file="tests/test_a.py" line="5">
  <skipped type="pytest.skip" message="no">skip</skipped></testcase>
<testcase classname="tests.test_a.TestC" name="test_p[x-1]" file="tests/test_a.py" line="9"/>
<testcase classname="" name="tests.test_broken" file="tests/test_broken.py">
  <error message="collection failure">ImportError</error></testcase>
<testcase classname="tests.test_a" name="test_td" file="tests/test_a.py"/>
<testcase classname="tests.test_a" name="test_td" file="tests/test_a.py"><error message="teardown"/></testcase>
</testsuite></testsuites>"""


def test_junit_gives_pytest_node_ids_and_outcomes():
    report = junit(PYTEST_XML)
    assert report.tests == {
        "tests/test_a.py::test_ok": "passed",
        "tests/test_a.py::test_bad": "failed",
        "tests/test_a.py::test_skip": "skipped",
        "tests/test_a.py::TestC::test_p[x-1]": "passed",
        "tests/test_broken.py": "error",
        "tests/test_a.py::test_td": "error",  # reported twice: the worse outcome stays
    }
    bare = junit('<testsuite><testcase classname="a.B" name="c"/></testsuite>')
    assert bare.tests == {"a.B::c": "passed"}
    prefixed = junit('<testsuite><testcase classname="pre.tests.test_a.TestC" name="t" '
                     'file="tests/test_a.py"/></testsuite>')  # junit_prefix=pre
    assert prefixed.tests == {"tests/test_a.py::TestC::t": "passed"}


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<testsuite><testcase name="&lol9;"/></testsuite>"""
EXTERNAL = """<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<testsuite><testcase name="&x;"/></testsuite>"""
PARAMETER = """<?xml version="1.0"?><!DOCTYPE t [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x.dtd"> %p;]>
<testsuite/>"""


@pytest.mark.parametrize(("xml", "note"), [
    (BILLION_LAUGHS, "declares a DOCTYPE"),
    (EXTERNAL, "declares a DOCTYPE"),
    (PARAMETER, "declares a DOCTYPE"),
    ('<!DOCTYPE testsuite SYSTEM "junit.dtd"><testsuite/>', "declares a DOCTYPE"),
    ("<testsuite><testcase name='a'>", "not well-formed"),
    ("garbage \x00\xff not xml", "not well-formed"),
    ("<testsuite></testsuite><testsuite/>", "not well-formed"),
    ("", "wrote no per-test report"),
    (None, "wrote no per-test report"),
    ("<a>" + "x" * MAX_REPORT_CHARS + "</a>", "over 4,000,000 characters"),
])
def test_hostile_or_broken_reports_give_no_per_test_data_and_say_why(xml, note):
    report = junit(xml)
    assert report.tests is None
    assert note in report.note


def test_too_many_tests_give_no_per_test_data():
    cases = "".join(f'<testcase name="t{i}"/>' for i in range(100_001))
    assert "more than 100,000 tests" in junit(f"<testsuite>{cases}</testsuite>").note


def test_ids_are_cut_and_cleaned():
    xml = '<testsuite><testcase classname="a" name="x&#10;y' + "z" * 1000 + '"/></testsuite>'
    (test_id,) = junit(xml).tests
    assert "\n" not in test_id and len(test_id) == MAX_ID_CHARS


def _events(*events: dict) -> str:
    return "\n".join(json.dumps(e) for e in events) + "\n"


GO_STREAM = _events(
    {"Action": "start", "Package": "x/a"},
    {"Action": "run", "Package": "x/a", "Test": "TestOk"},
    {"Action": "output", "Package": "x/a", "Test": "TestOk", "Output": "=== RUN   TestOk\n"},
    {"Action": "pass", "Package": "x/a", "Test": "TestOk", "Elapsed": 0},
    {"Action": "fail", "Package": "x/a", "Test": "TestBad/sub", "Elapsed": 0},
    {"Action": "fail", "Package": "x/a", "Test": "TestBad", "Elapsed": 0},
    {"Action": "skip", "Package": "x/a", "Test": "TestSkip", "Elapsed": 0},
    {"Action": "output", "Package": "x/a", "Output": "FAIL\tx/a\t0.01s\n"},
    {"Action": "fail", "Package": "x/a", "Elapsed": 0.01},
    {"Action": "fail", "Package": "x/broken", "Elapsed": 0},
    {"Action": "skip", "Package": "x/empty"},
) + "# x/broken\nbroken/b.go:3:1: syntax error\n"


def test_go_json_gives_tests_a_failed_build_and_the_text():
    text, report = go_events(GO_STREAM, complete=True)
    assert report.tests == {"x/a::TestOk": "passed", "x/a::TestBad/sub": "failed",
                            "x/a::TestBad": "failed", "x/a::TestSkip": "skipped",
                            "x/broken": "failed"}
    assert text == "=== RUN   TestOk\nFAIL\tx/a\t0.01s\n# x/broken\nbroken/b.go:3:1: syntax error\n"


@pytest.mark.parametrize(("stream", "complete", "note"), [
    (GO_STREAM, False, "too long"),
    ("not json\n{broken\n[1,2]\n" + _events({"Action": "pass"}), True, "reported no tests"),
    ("{" * 200_000 + "\n", True, "reported no tests"),
])
def test_go_json_without_trustworthy_per_test_data(stream, complete, note):
    _text, report = go_events(stream, complete)
    assert report.tests is None and note in report.note
