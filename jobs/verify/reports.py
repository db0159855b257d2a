"""Per-test outcomes from a runner's machine-readable report: pytest's JUnit XML and
`go test -json`. Pure.

The report was written inside the sandbox, where the code under test ran and could have
replaced it with anything, so it is read as hostile data and trusted for nothing beyond
counting: at most MAX_REPORT_CHARS, at most MAX_TESTS tests, ids cut to MAX_ID_CHARS with
control characters dropped. The XML goes through expat with any DOCTYPE refused, so there are
no entities to expand (no billion laughs) and nothing external to fetch; a report that is not
well-formed, or too large, gives no per-test data and says why (`Report.note`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from xml.parsers import expat

from jobs.verify.results import ERROR, FAILED, PASSED, SKIPPED

MAX_REPORT_CHARS = 4_000_000
MAX_TESTS = 100_000
MAX_ID_CHARS = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WORST_FIRST = (ERROR, FAILED, PASSED, SKIPPED)
_JUNIT_OUTCOMES = {"failure": FAILED, "error": ERROR, "skipped": SKIPPED}
_GO_OUTCOMES = {"pass": PASSED, "fail": FAILED, "skip": SKIPPED}


@dataclass(frozen=True)
class Report:
    """What a report said: each test's outcome, or None and why not."""

    tests: dict[str, str] | None
    note: str = ""


class _Refused(Exception):
    """The XML declares a DOCTYPE or an entity, which a test report never needs."""


class _TooMany(Exception):
    """More than MAX_TESTS tests."""


def junit(xml: str | None) -> Report:
    """Each <testcase>'s outcome by id; a DOCTYPE, a bad or oversized document gives none."""
    if xml is None or not xml.strip():
        return Report(None, "the runner wrote no per-test report Orca reads (JUnit XML from "
                            "pytest, `go test -json`)")
    if len(xml) > MAX_REPORT_CHARS:
        return Report(None, f"the JUnit report is over {MAX_REPORT_CHARS:,} characters")
    reader = _JunitReader()
    try:
        reader.parse(xml)
    except _Refused:
        return Report(None, "the JUnit report declares a DOCTYPE or entities; Orca does not "
                            "read those")
    except expat.ExpatError as exc:
        why = expat.ErrorString(exc.code)
        return Report(None, f"the JUnit report is not well-formed XML ({why})")
    except _TooMany:
        return Report(None, f"the JUnit report has more than {MAX_TESTS:,} tests")
    return Report(reader.tests)


class _JunitReader:
    """Collects top-level <testcase> elements and the outcome their children say."""

    def __init__(self) -> None:
        self.tests: dict[str, str] = {}
        self._case: str | None = None
        self._outcome: str | None = None
        """What the testcase's children said (failure, error, skipped); none: it passed."""
        self._depth = 0
        self._case_depth = 0

    def parse(self, xml: str) -> None:
        parser = expat.ParserCreate()
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartDoctypeDeclHandler = self._refuse
        parser.EntityDeclHandler = self._refuse
        parser.UnparsedEntityDeclHandler = self._refuse
        parser.ExternalEntityRefHandler = self._refuse
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.Parse(xml, True)

    def _refuse(self, *_args: object) -> None:
        raise _Refused

    def _start(self, tag: str, attrs: dict[str, str]) -> None:
        self._depth += 1
        if tag == "testcase" and self._case is None:
            self._case, self._outcome, self._case_depth = _junit_id(attrs), None, self._depth
        elif self._case is not None and tag in _JUNIT_OUTCOMES:
            said = _JUNIT_OUTCOMES[tag]
            self._outcome = said if self._outcome is None else _worse(self._outcome, said)

    def _end(self, tag: str) -> None:
        if self._case is not None and tag == "testcase" and self._depth == self._case_depth:
            _record(self.tests, self._case, self._outcome or PASSED)
            self._case = None
        self._depth -= 1


def _junit_id(attrs: dict[str, str]) -> str:
    """pytest's node id from xunit1's attributes: `tests/test_x.py::TestC::test_y`; else
    `classname::name`."""
    name, classname, file = attrs.get("name", ""), attrs.get("classname", ""), attrs.get("file", "")
    if file.endswith(".py"):
        module = file[:-3].replace("/", ".")
        if ".".join(part for part in (classname, name) if part) == module:
            return _clean(file)  # the module itself: a collection error
        dotted = f".{classname}."  # the module's dotted name, then its classes' (after a prefix)
        at = dotted.find(f".{module}.")
        inner = dotted[at + len(module) + 2:-1] if at >= 0 else ""
        return _clean("::".join([file, *(inner.split(".") if inner else []), name]))
    return _clean(f"{classname}::{name}" if classname else name)


def go_events(output: str, complete: bool) -> tuple[str, Report]:
    """`go test -json`'s stream: the text it stands for (the Output fields, and any line that is
    not an event, such as a build error), and each test's outcome as `package::TestName`; a
    package that failed without running a test (it did not build) counts as one, `package`.
    `complete` is False when the output was cut, and then there is no per-test data: tests
    missing from the middle would look gone."""
    text: list[str] = []
    tests: dict[str, str] = {}
    failed_packages: set[str] = set()
    try:
        for line in output.splitlines():
            event = _event(line)
            if event is None:
                text.append(line + "\n")
                continue
            if isinstance(event.get("Output"), str):
                text.append(event["Output"])
            outcome = _GO_OUTCOMES.get(str(event.get("Action")))
            package, test = event.get("Package"), event.get("Test")
            if outcome is None or not isinstance(package, str):
                continue
            if isinstance(test, str) and test:
                _record(tests, _clean(f"{package}::{test}"), outcome)
            elif outcome == FAILED:
                failed_packages.add(_clean(package))
    except _TooMany:
        return "".join(text), Report(None, f"`go test -json` reported over {MAX_TESTS:,} tests")
    tested = {test_id.split("::", 1)[0] for test_id in tests}
    tests.update(dict.fromkeys(failed_packages - tested, FAILED))
    if not complete:
        return "".join(text), Report(None, "the output was too long to read every test's result")
    if not tests:
        return "".join(text), Report(None, "`go test -json` reported no tests")
    return "".join(text), Report(tests)


def _event(line: str) -> dict[str, object] | None:
    if not line.startswith("{") or len(line) > 100_000:
        return None
    try:
        event = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return event if isinstance(event, dict) and "Action" in event else None


def _record(tests: dict[str, str], test_id: str, outcome: str) -> None:
    """A test reported twice (reruns, a teardown error) keeps its worst outcome."""
    if test_id in tests:
        tests[test_id] = _worse(tests[test_id], outcome)
    elif len(tests) >= MAX_TESTS:
        raise _TooMany
    else:
        tests[test_id] = outcome


def _worse(one: str, other: str) -> str:
    return min(one, other, key=_WORST_FIRST.index)


def _clean(test_id: str) -> str:
    return _CONTROL.sub("", test_id)[:MAX_ID_CHARS]

