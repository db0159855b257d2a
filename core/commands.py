"""Pure parsing of `/agent` commands in a comment: the one grammar of `/agent`.

A command starts a line and `/agent` is matched as a whole word: `/agents` or `see /agent`
are not commands. Lines inside fenced code blocks and quoted lines (`> /agent ...`, a reply
quoting someone else) are skipped, so pasting a command as an example does not run it.

What follows `/agent`:
- `stop`, `stop push` (or `stop and push`), `retry`, `help`, `fix ci` (on a pull request),
  `review` (on a pull request, with an optional focus after it), `fix` alone (in a thread of
  Orca's review), `use attempt <k>` (on a pull request made from attempts), `plan` (with
  an optional focus after it), `go` (alone on its line; the lines after it edit the plan),
  or nothing: those commands;
- a verb reserved for what comes next (RESERVED, none today): not yet a command, and not a
  request either, so that it can become one without changing what a comment means; the
  reply says so;
- `do <request>`: a request, whatever its first word;
- one other bare word: an unknown command, answered with the help;
- anything longer: a request; `--attempts N` at its end asks for N attempts at once (a value
  that is not a number is answered with the help).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_COMMAND_LINE = re.compile(r"^/agent(?=\s|$)(?P<rest>.*)$", re.DOTALL)
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
# `/agent stop push` (or `stop and push`) keeps the work so far as a draft. Anything longer
# that starts with "stop" ("stop using globals in db.py") is a request, not this command.
_STOP = re.compile(r"stop(?P<push>\s+(and\s+)?push)?[.!]?", re.IGNORECASE)
# Verbs the coming capabilities take (none today; `plan` and `go` were, and are commands now).
RESERVED: tuple[str, ...] = ()
# Options a request will carry at its end, once Orca takes them (none today).
RESERVED_OPTIONS: tuple[str, ...] = ()
_RESERVED = (re.compile(r"(?P<verb>" + "|".join(v.replace(" ", r"\s+") for v in RESERVED)
                        + r")(?=[\s.!?]|$)", re.IGNORECASE) if RESERVED else None)
_OPTION = (re.compile(r"\s--(?P<name>" + "|".join(RESERVED_OPTIONS) + r")(?:[\s=]+\S+)?\s*$",
                      re.IGNORECASE) if RESERVED_OPTIONS else None)
# `/agent <request> --attempts 3` (or `--attempts=3`): the request's last words.
_ATTEMPTS = re.compile(r"(?P<request>.*?)\s+--attempts(?:\s*=\s*|\s+)(?P<n>\S+)\s*", re.IGNORECASE | re.DOTALL)
# `/agent use attempt 2` on a pull request made from attempts.
_USE_ATTEMPT = re.compile(r"use\s+attempt\s+#?(?P<k>\d{1,3})[.!]?", re.IGNORECASE)
_DO = re.compile(r"do\s+(?P<request>\S.*)", re.IGNORECASE | re.DOTALL)
# `/agent fix ci`, with anything after it as guidance for the round.
_FIX_CI = re.compile(r"fix\s+ci(?=[\s.!:,;]|$)[\s.!:,;]*(?P<text>.*)", re.IGNORECASE | re.DOTALL)
# `/agent review`, with anything after it as what to look at most closely.
_REVIEW = re.compile(r"review(?=[\s.!:,;]|$)[\s.!:,;]*(?P<text>.*)", re.IGNORECASE | re.DOTALL)
# `/agent plan`, with anything after it as what the plan should weigh.
_PLAN = re.compile(r"plan(?=[\s.!:,;]|$)[\s.!:,;]*(?P<text>.*)", re.IGNORECASE | re.DOTALL)
# `/agent go` alone on its line; the lines after it edit the plan ("drop 3", "2: ...").
_GO = re.compile(r"go[.!]?[ \t]*(?:\n(?P<text>.*))?", re.IGNORECASE | re.DOTALL)

HELP = """Orca's commands (a comment line that starts with `/agent`; write access needed):

| command | what Orca does |
| --- | --- |
| `/agent <request>` | on an issue: works on it like the label, with your comment as the instruction; on a pull request: makes the change on the PR's branch and pushes a commit |
| `/agent stop` | stops this issue's or PR's queued or running run; nothing half-done is pushed |
| `/agent stop push` | stops it and pushes the work so far as a draft |
| `/agent retry` | runs the last request on this issue or PR again |
| `/agent fix ci` | on a pull request: the agent fixes what failed in CI on its head commit and pushes a commit |
| `/agent review` | on a pull request (forks included): Orca reviews it and posts a GitHub review with inline comments; it pushes nothing |
| `/agent fix` | in a thread of Orca's review, on a pull request from this repository: makes the change that comment asks for on the PR's branch |
| `/agent <request> --attempts N` | on an issue: N independent attempts at once; the one with the best evidence becomes the pull request |
| `/agent use attempt <k>` | on a pull request made from attempts: moves it to attempt k with a new commit |
| `/agent plan` | on an issue: a read-only run that answers with a plan (approach, files, risks, and sub-tasks when the goal is bigger than one pull request), or the questions it needs answered first; nothing is pushed |
| `/agent go` | on an issue with Orca's plan: without sub-tasks, a run that follows it; with sub-tasks, one sub-issue and one run per sub-task, each starting when the ones it waits for have their pull requests. Lines after it edit the plan: `drop 3`, `2: also update the docs` |
| `/agent help` | this list |
| `/agent do <request>` | a request that starts with one of the words below |


Reviews on Orca's own pull requests need no command: Orca addresses each review's comments in one run."""


@dataclass(frozen=True)
class Command:
    """A parsed command: `name` is run, stop, retry, help, fix_ci, review, fix, use_attempt,
    plan or go."""

    name: str
    text: str = ""
    """For run: the request, from after `/agent` to the end of the comment; for fix_ci,
    review and plan, the words after the verb; for go, the lines after it."""
    push: bool = False
    """For stop: push the work so far as a draft."""
    unknown: str | None = None
    """For help: the unknown subcommand that asked for it, if any."""
    attempts: int = 1
    """For run: how many attempts at once (`--attempts N`)."""
    attempt: int = 0
    """For use_attempt: which attempt."""


def parse_command(body: str) -> Command | None:
    """The first `/agent` command in a comment body, or None."""
    lines = body.replace("\r\n", "\n").split("\n")
    fenced = False
    for index, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else _COMMAND_LINE.match(line.strip())
        if match:
            rest = "\n".join([match["rest"], *lines[index + 1:]]).strip()
            return _interpret(rest)
    return None


def reserved_use(text: str) -> str | None:
    """The reserved verb or option `text` (what followed `/agent`) uses, or None."""
    verb = _RESERVED.match(text.strip()) if _RESERVED is not None else None
    if verb:
        return " ".join(verb["verb"].lower().split())
    option = _OPTION.search(text) if _OPTION is not None else None
    return f"--{option['name'].lower()}" if option else None


def _interpret(rest: str) -> Command:
    stop = _STOP.fullmatch(rest)
    if stop:
        return Command("stop", push=bool(stop["push"]))
    if fix := _FIX_CI.fullmatch(rest):
        return Command("fix_ci", text=fix["text"].strip())
    if review := _REVIEW.fullmatch(rest):
        return Command("review", text=review["text"].strip())
    if plan := _PLAN.fullmatch(rest):
        return Command("plan", text=plan["text"].strip())
    if go := _GO.fullmatch(rest):
        return Command("go", text=(go["text"] or "").strip())
    if re.match(r"go(?=[\s.!?,:;]|$)", rest, re.IGNORECASE):
        # "go ahead", "go through the code": `go` wants its line alone; the rest is not guessed at.
        return Command("help", unknown=rest)
    if re.match(r"--attempts\b", rest, re.IGNORECASE):  # the option with no request before it
        return Command("help", unknown=rest)
    if use := _USE_ATTEMPT.fullmatch(rest):
        return Command("use_attempt", attempt=int(use["k"]))
    if re.match(r"use\s+attempt\b", rest, re.IGNORECASE):  # with no number
        return Command("help", unknown=rest)
    if attempts := _ATTEMPTS.fullmatch(rest):
        if not attempts["n"].isdigit() or not attempts["request"].strip():
            return Command("help", unknown=rest)
        request = _interpret(attempts["request"].strip())
        if request.name != "run":
            return Command("help", unknown=rest)
        return Command("run", text=request.text, attempts=int(attempts["n"]))
    do = _DO.fullmatch(rest)
    if do:
        return Command("run", text=do["request"].strip())
    if reserved_use(rest):
        return Command("help", unknown=rest)
    word = rest.rstrip(".!?").lower()
    if word in ("retry", "help", "fix"):
        return Command(word)
    if not word:
        return Command("help")
    if re.fullmatch(r"[a-z-]+", word):
        # One bare word is a subcommand, and not one we know; a request has more to say.
        return Command("help", unknown=rest)
    return Command("run", text=rest)
