"""What the model is told: the system prompt and the task, built from sanitised text.

Only the requester's words and the repository's own instruction files reach the model.
Hidden HTML comments and invisible or bidirectional-control characters are stripped
first: they are how instructions get smuggled past a human reviewer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from core.budget import Budget
from jobs.workspace.repo_files import NotRegularFile, find_blob, read_text

# Instruction files other agents read, looked up case-insensitively at the repository root.
INSTRUCTION_FILES = ("AGENTS.md", "CLAUDE.md", ".github/copilot-instructions.md")
# One instruction file may not crowd out the task: 16 KB is a long AGENTS.md.
INSTRUCTION_CAP = 16_000
# An issue body past 32 KB is almost certainly pasted logs; keep the head.
BODY_CAP = 32_000

_HIDDEN = re.compile(r"<!--.*?(-->|$)", re.DOTALL)
# Zero-width, word-joiner, BOM, soft hyphen, bidi embeddings/overrides/isolates, tag chars.
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\U000e0000-\U000e007f]")
_IMAGE_ALT = re.compile(r"!\[[^\]]*\]\(")
# A link's title (`[text](url "title")`) shows only on hover: another hiding place.
_LINK_TITLE = re.compile(r"(\]\(\s*<?[^\s)>]*>?)\s+(\"[^\"]*\"|'[^']*'|\([^)]*\))\s*\)")

SYSTEM = """You are Orca, an autonomous software engineer working on a GitHub repository,
checked out at {root}: your working directory.

Tools: `str_replace_based_edit_tool` views and edits files (absolute paths under {root});
`bash` runs a command in a sandbox{network}. Each bash call is a fresh shell: the current
directory, exported variables and background processes do not carry over to the next call.
A command is killed after {timeout}. Make independent calls, such as reading several files,
together in one reply.

Budget: {budget}.

Way of working:
1. Find the code relevant to the task.
2. For a bug, write a short script that reproduces it, and run it to see it fail.
3. Make the smallest change that fully solves the task.
4. Rerun the reproduction and the tests that cover the change; fix what fails.
5. Consider edge cases, and check the ones that matter.
6. Remove your scratch files, the reproduction included unless it belongs in the test suite.

Do not commit, push or create branches: Orca commits your changes when you finish. When you
are done, reply without calling a tool: a short summary of what you changed and how you
verified it, for the pull request description."""


def sanitise(text: str) -> str:
    """Remove hidden HTML comments, invisible characters, image alt text and link titles."""
    text = _HIDDEN.sub("", text)
    text = _INVISIBLE.sub("", text)
    text = _LINK_TITLE.sub(r"\1)", text)
    return _IMAGE_ALT.sub("![](", text)


def system_prompt(root: str, network: bool, budget: Budget, command_timeout: float) -> str:
    """The same for every turn of a run (it heads the prompt cache): the tools, the budget the
    model works within, and a way of working."""
    limits = [f"{budget.max_turns} turns (each reply is one)"]
    if budget.max_minutes is not None:
        limits.append(f"{budget.max_minutes:g} minutes")
    return SYSTEM.format(root=root, network="" if network else " without network access",
                         timeout=_duration(command_timeout), budget=" and ".join(limits))


def _duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} minute{'s' if seconds != 60 else ''}"
    return f"{seconds:g} seconds"


def repository_instructions(repository: Path, revision: str) -> list[tuple[str, str]]:
    """(name, text) of each instruction file at `revision` of Orca's git directory, capped in
    size: regular files in the commit only (jobs.workspace.repo_files), never the agent's worktree
    and never through a link, which is skipped."""
    found = []
    for name in INSTRUCTION_FILES:
        try:
            blob = find_blob(repository, revision, name, ignore_case=True)
        except NotRegularFile:
            continue
        if blob is not None:
            text = read_text(repository, blob, lossy=True)[:INSTRUCTION_CAP]
            found.append((name, sanitise(text)))
    return found


@dataclass(frozen=True)
class Brief:
    """What the agent is asked, in plain values (see jobs.task.read.Task for where they come from)."""

    repository: str
    number: int
    requester: str
    kind: str
    """label, command or review."""
    is_pull_request: bool
    title: str
    body: str
    request: str = ""
    branch: str = ""
    base: str = ""
    follow_up: bool = False
    remarks: tuple[tuple[str, str], ...] = ()
    """(author, body) of earlier comments by people with write access."""
    threads: tuple = ()
    """jobs.task.threads.Thread, for reviews."""


def task_prompt(brief: Brief, instructions: list[tuple[str, str]],
                test_command: str | None = None) -> str:
    """The first user message: what was asked, the target, its discussion, the repository's
    own instructions."""
    b = brief
    what = "pull request" if b.is_pull_request else "issue"
    tag = "pull-request" if b.is_pull_request else "issue"
    target = (f"<{tag}>\n<title>{sanitise(b.title)}</title>\n"
              f"<body>\n{sanitise(b.body)[:BODY_CAP]}\n</body>\n</{tag}>")
    parts = [_opening(b), target]
    if b.remarks:
        said = "\n".join(f'<comment author="{a}">\n{sanitise(text)[:BODY_CAP]}\n</comment>'
                         for a, text in b.remarks)
        parts.append(f"Earlier discussion on the {what}, from people with write access:\n"
                     f"<discussion>\n{said}\n</discussion>")
    if b.request and b.kind != "review":
        parts.append(f"@{b.requester}'s request:\n<request>\n{sanitise(b.request)[:BODY_CAP]}\n</request>")
    if b.kind == "review":
        parts.append(_review_part(b))
    return "\n\n".join(parts + _repository_parts(instructions, test_command))


def _opening(b: Brief) -> str:
    if b.kind == "review":
        return (f"@{b.requester} reviewed pull request #{b.number} in {b.repository}, which you "
                f"opened from `{b.branch}`. Address the review: the working tree is that branch.")
    if b.is_pull_request:
        return (f"@{b.requester} asked for a change on pull request #{b.number} in "
                f"{b.repository}. The working tree is its branch `{b.branch}` (into `{b.base}`); "
                "your change is pushed there as a new commit.")
    opening = f"Resolve issue #{b.number} in {b.repository}, asked for by @{b.requester}."
    if b.follow_up:
        opening += (f" This is a follow-up: your earlier work on it is already on this branch "
                    f"(`{b.branch}`; `git log {b.base}..HEAD` shows it). Build on it; do not "
                    "start over.")
    return opening


def _review_part(b: Brief) -> str:
    parts = []
    if b.request.strip():
        parts.append(f"<review author=\"{b.requester}\">\n{sanitise(b.request)[:BODY_CAP]}\n</review>")
    for thread in b.threads:
        if not thread.instruction:
            continue
        said = "\n".join(f'<comment author="{a}">\n{sanitise(text)}\n</comment>'
                         for a, text in thread.comments)
        parts.append(f'<thread n="{thread.number}" file="{thread.path}" lines="{thread.lines}">\n'
                     f"<diff-hunk>\n{thread.diff_hunk}\n</diff-hunk>\n{said}\n</thread>")
    parts.append(REVIEW_ANSWERS)
    return "\n\n".join(parts)


REVIEW_ANSWERS = """When you finish, end your reply with one line per thread above: \
<reply thread="N">what you changed</reply> for each thread you acted on, or \
<skip thread="N">why you did not</skip>. Orca posts each in its thread."""


def local_task_prompt(request: str, instructions: list[tuple[str, str]],
                      test_command: str | None = None) -> str:
    """The first user message of `orca solve`: the request, then the repository's instructions."""
    parts = [f"<request>\n{sanitise(request)[:BODY_CAP]}\n</request>"]
    return "\n\n".join(parts + _repository_parts(instructions, test_command))


def _repository_parts(instructions: list[tuple[str, str]], test_command: str | None) -> list[str]:
    parts = [f'<repository-instructions file="{name}">\n{text}\n</repository-instructions>'
             for name, text in instructions]
    if test_command:
        parts.append(f"The repository's test command (from .github/orca.yml): `{test_command}`")
    return parts


def review_prompt(diff: str, test_command: str | None) -> str:
    """Shown once, when the model first says it is done: its whole diff and a checklist."""
    test = (f"- Run the repository's test command, `{test_command}`, and fix what fails.\n"
            if test_command else "- Run the tests that cover your change.\n")
    return ("Before you finish, check your whole change against the base commit:\n\n"
            f"<diff>\n{diff}\n</diff>\n\n"
            "Checklist:\n"
            "- Remove scratch files, debug output and anything unrelated to the task.\n"
            "- Do not delete, skip or weaken tests to make them pass.\n"
            + test +
            "If anything needs fixing, fix it now. Then reply without calling a tool, with the "
            "summary for the pull request description.")


def cut_note(limit: int, calls: list[str]) -> str:
    """Said after a reply cut at the output limit: what was not run, and how to fit."""
    lost = ""
    if len(calls) == 1:
        lost = f" Its call to `{calls[0]}` was cut short and not run."
    elif calls:
        lost = f" Its tool calls were not run; the last, to `{calls[-1]}`, was cut short."
    return (f"Your last reply was cut off at the output limit ({limit:,} tokens).{lost} Reply "
            "again, shorter: write a large file in parts (create it with the first part, then "
            "add the rest with `insert`), and keep explanations brief.")
