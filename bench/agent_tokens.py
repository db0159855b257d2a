"""How much of a long run's input the prompt cache serves, and how big the largest request is.

A 30-turn scripted run through the fake Messages API (tests/fakes/model.py, whose caching
emulation counts a prefix seen before as a cache read), driving jobs.agent.loop.run_agent with the
real toolbox on a temporary git repository (NoSandbox: this measures tokens, not isolation).
Target: at least 85% of input tokens read from the cache. The run ends as a published run does:
the diff review, then the fresh-context check (jobs.agent.fresh_check) on the real diff, whose
share of the run's cost is reported.

    /tmp/venv/bin/python bench/agent_tokens.py
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.budget import Budget  # noqa: E402
from jobs.agent.fresh_check import FreshCheck, run_check  # noqa: E402
from jobs.agent.loop import run_agent  # noqa: E402
from jobs.agent.prompt import system_prompt  # noqa: E402
from jobs.agent.tools import Toolbox  # noqa: E402
from jobs.sandbox import NoSandbox  # noqa: E402
from tests.fakes.model import FakeModel, looks_right, reply, text, tool_use  # noqa: E402
from tests.fakes.model_usage import estimate_tokens  # noqa: E402

TURNS = 30


def make_repository(root: Path) -> None:
    """A small Python project: 20 modules of about 2 KB each."""
    for i in range(20):
        body = "".join(f"def f{i}_{j}(x):\n    return x * {j} + {i}\n\n" for j in range(40))
        (root / f"module_{i}.py").write_text(body)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "."], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "base"],
                   cwd=root, check=True)


def script(model: FakeModel, root: str) -> None:
    """Read files, grep, edit one, run it: the mix of a real run."""
    steps = []
    for turn in range(TURNS - 1):
        i = turn % 20
        if turn % 3 == 0:
            steps.append(tool_use("str_replace_based_edit_tool", {"command": "view", "path": f"{root}/module_{i}.py"}))
        elif turn % 3 == 1:
            steps.append(tool_use("bash", {"command": f"grep -n 'return x \\* 1' module_{i}.py | head -20"}))
        else:
            steps.append(tool_use("bash", {"command": f"sed -i 's/+ {i}$/+ {i} + 0/' module_{i}.py && git diff --stat"}))
    model.script(*[reply(text(f"Step {n}."), step) for n, step in enumerate(steps)],
                 reply(text("Done.")), reply(text("Checked the diff. Done.")), looks_right())


def git_diff(root: Path) -> str:
    return subprocess.run(["git", "diff"], cwd=root, capture_output=True, text=True, check=True).stdout


def main() -> None:
    with FakeModel() as model, tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        make_repository(root)
        sandbox = NoSandbox(root)
        script(model, sandbox.root)
        budget = Budget(max_turns=TURNS + 2, max_minutes=45)
        system = system_prompt(sandbox.root, False, budget, command_timeout=300)
        check, task = FreshCheck(), "Make every function add zero, carefully."
        result = run_agent(model.client(), model="claude-sonnet-5-5", system=system,
                           task=task, tools=Toolbox(sandbox),
                           emit=lambda kind, data: None, budget=budget,
                           review=[lambda ask: "Check your diff before you finish.",
                                   lambda ask: run_check(check, ask, task, git_diff(root),
                                                         "41 passed", lambda *a: None)])
        usage = result.usage
        sizes = [len(json.dumps(body).encode()) for body in model.requests]
        largest = max(range(len(sizes)), key=sizes.__getitem__)
        print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
        print(f"turns: {result.turns}  requests: {len(model.requests)}  stopped_by: {result.stopped_by}")
        print(f"system prompt: {len(system):,} characters, about {estimate_tokens(system):,} tokens")
        print(f"input tokens: {usage.total_input:,} (new {usage.input_tokens:,}, cache writes "
              f"{usage.cache_creation_input_tokens:,}, cache reads {usage.cache_read_input_tokens:,})")
        print(f"share read from cache: {usage.cache_read_input_tokens / usage.total_input:.1%} (target >= 85%)")
        print(f"largest request: {sizes[largest]:,} bytes, about "
              f"{estimate_tokens(model.requests[largest]):,} tokens (request {largest + 1})")
        print(f"cost at list prices: ${result.cost:.4f}")
        print(f"fresh-context check: {check.outcome}, {check.tokens:,} tokens, ${check.cost:.4f} = "
              f"{check.cost / result.cost:.1%} of the run's cost")


if __name__ == "__main__":
    main()
