"""The one grammar of `/agent`: commands, reserved verbs and options (none today), `do`, and
requests."""

from __future__ import annotations

import pytest

from core.commands import RESERVED, parse_command, reserved_use


@pytest.mark.parametrize(("body", "name", "text", "unknown"), [
    ("/agent stop", "stop", "", None),
    ("/agent stop and push.", "stop", "", None),
    ("/agent retry", "retry", "", None),
    ("/agent help", "help", "", None),
    ("/agent", "help", "", None),
    ("/agent frobnicate", "help", "", "frobnicate"),              # one unknown word
    ("/agent rename greet to hello", "run", "rename greet to hello", None),
    ("/agent stop using globals in db.py", "run", "stop using globals in db.py", None),
    # A review, with what to look at most closely after it; `fix` alone (in Orca's threads).
    ("/agent review", "review", "", None),
    ("/agent Review the error handling", "review", "the error handling", None),
    ("/agent review: the SQL, mostly.", "review", "the SQL, mostly.", None),
    ("/agent reviewer wanted", "run", "reviewer wanted", None),
    ("/agent fix", "fix", "", None),
    ("/agent fix.", "fix", "", None),
    # A plan, with what to weigh; go alone on its line, the lines after it its edits.
    ("/agent plan add caching to the API", "plan", "add caching to the API", None),
    ("/agent plan", "plan", "", None),
    ("/agent plan.", "plan", "", None),
    ("/agent go", "go", "", None),
    ("/agent go!", "go", "", None),
    ("/agent go\ndrop 3\n2: also update the docs", "go", "drop 3\n2: also update the docs", None),
    # More words on go's line are not guessed at.
    ("/agent go ahead", "help", "", "go ahead"),
    ("/agent go through the code and fix typos", "help", "", "go through the code and fix typos"),
    ("/agent fix ci", "fix_ci", "", None),
    ("/agent fix  CI.", "fix_ci", "", None),
    ("/agent fix ci: the lint job only", "fix_ci", "the lint job only", None),
    ("/agent use attempt 2", "use_attempt", "", None),
    ("/agent rename x to y --attempts 3", "run", "rename x to y", None),
    ("/agent do review it --attempts=2", "run", "review it", None),
    ("/agent rename x --attempts three", "help", "", "rename x --attempts three"),
    ("/agent --attempts 3", "help", "", "--attempts 3"),
    ("/agent stop --attempts 2", "help", "", "stop --attempts 2"),
    ("/agent use attempt two", "help", "", "use attempt two"),
    # ... and `do` makes any of them a request.
    ("/agent do review the error handling", "run", "review the error handling", None),
    ("/agent do plan the release notes\nin two parts", "run", "plan the release notes\nin two parts", None),
    ("/agent do stop", "run", "stop", None),
    # Words that merely start like a reserved one are requests as before.
    ("/agent fix the ci config", "run", "fix the ci config", None),
    ("/agent planning doc needs an update", "run", "planning doc needs an update", None),
    ("/agent goal: make it faster", "run", "goal: make it faster", None),
    ("/agent run pytest --lf and fix what fails", "run", "run pytest --lf and fix what fails", None),
])
def test_the_grammar(body, name, text, unknown):
    command = parse_command(body)
    assert (command.name, command.text, command.unknown) == (name, text, unknown)


def test_every_reserved_verb_is_named_as_reserved():
    for verb in RESERVED:
        assert reserved_use(f"{verb} something") == verb
    assert reserved_use("rename x --attempts=2") is None  # taken: a request's attempts
    assert reserved_use("rename x") is None


@pytest.mark.parametrize("body, attempts, attempt", [
    ("/agent rename x --attempts 3", 3, 0),
    ("/agent rename x --attempts=1", 1, 0),
    ("/agent rename x", 1, 0),
    ("/agent use attempt 2", 1, 2),
    ("/agent use attempt #12.", 1, 12),
])
def test_attempts_and_the_attempt_to_use(body, attempts, attempt):
    command = parse_command(body)
    assert (command.attempts, command.attempt) == (attempts, attempt)
