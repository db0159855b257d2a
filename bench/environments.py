"""Run start-up when a repository's setup installs its packages over the setup phase's network: a
first run, then a second run of the same repository with the same key (the same commit, the
same lock file), side by side.

The repository sets its environment up as a Python project would:

    setup:                  # the setup phase has the network; the agent's has none
      - python3 -m venv .venv
      - .venv/bin/pip install --index-url http://198.51.100.x/simple --trusted-host 198.51.100.x
          -r requirements.txt

Its requirements.txt, the lock file, pins orca-probe-all and the packages it depends on
(orca-probe-000.., `--packages`), which tests/package_index.py builds and serves from a stand-in
public host: a network namespace, so the bench must run as root. Each run is a real labelled
issue through the fakes, with the real sandbox and its network (slirp4netns, nftables); the
model answers at once, so each run makes one model request. Start-up runs from the run's start
(its record's started_at) to the model's first request; the run's events split off the
workspace and the setup. A run whose environment was kept warm says so in its events: a
`setup_phase` event with "cached": true.

    .venv/bin/python bench/environments.py [--packages 30]   # as root
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._servers import machine
from bench._world import World, orca_world
from core.runs import RunStore
from tests.e2e.conftest import Scene, labeled_payload, make_scene
from tests.fakes.model import reply, text
from tests.hostile.public_host import namespace_problem
from tests.package_index import PackageIndex, served_index

REPOSITORY = "octo-org/hello"
LABELS = ("first", "second (same lock file)")


@dataclass
class Startup:
    """One run's start-up, in seconds from the run's start, and what its setup did."""

    status: str
    to_workspace: float | None
    commands: list[float]
    """Each setup command's seconds (the first counted from the config read, so it includes
    making the sandbox)."""
    to_model: float | None
    cached: bool
    """A `setup_phase` event said the environment was kept from an earlier run."""
    installed: int | None
    """Packages pip said it installed, from the last setup command's output."""


def setup_commands(index: PackageIndex) -> list[str]:
    return ["python3 -m venv .venv",
            f".venv/bin/pip install {index.pip_options} -r requirements.txt"]


def make_repository(world: World, index: PackageIndex, packages: int) -> tuple[Scene, int]:
    """octo-org/hello, whose setup installs orca-probe-all and its `packages` dependencies;
    (its scene, the number of packages pinned)."""
    name = index.add_probes(packages)
    pins = [f"orca-probe-{n:03}==1.0" for n in range(packages)] + [f"{name}==1.0"]
    config = "setup:\n" + "".join(f"  - {json.dumps(c)}\n"
                                                 for c in setup_commands(index))
    files = {"README.md": "# Hello\n", ".gitignore": ".venv/\n",
             "requirements.txt": "".join(f"{pin}\n" for pin in pins),
             ".github/orca.yml": config}
    return make_scene(world.github, files=files, body="Look at the probes."), len(pins)


def one_run(world: World, scene: Scene, n: int) -> Startup:
    """Label an issue (a fresh one after the first), drain the queues, read the run's times."""
    if n > 1:
        number = world.github.add_issue(REPOSITORY, f"Task {n}", "Look at the probes.",
                                        "octocat", labels=["agent"])
        scene = Scene(scene.installation_id, scene.repo, number, scene.requester)
    world.model.script(reply(text("The probes already do what the issue asks; nothing to change.")))
    status, answer = world.deliver("issues", labeled_payload(world.github, scene))
    if status != 202:
        raise SystemExit(f"delivery answered {status}: {answer}")
    world.drain()
    return startup(world, answer["run"])


def startup(world: World, run_id: str) -> Startup:
    """The run's start-up from its record, its events and the model's arrival times."""
    store = RunStore(world.redis)
    record = store.get(run_id) or {}
    started = float(record.get("started_at") or 0)
    events = store.events(run_id)
    at = {e["kind"]: e["at"] for e in reversed(events)}  # each kind's first event
    setups = [e for e in events if e["kind"] == "setup"]
    first = world.model.first_after(started) if started else None
    return Startup(
        status=record.get("status", "?"),
        to_workspace=at["workspace"] - started if "workspace" in at and started else None,
        commands=_durations(at.get("config"), [e["at"] for e in setups]),
        to_model=first - started if first is not None else None,
        cached=any(e["kind"] == "setup_phase" and e["data"].get("cached") is True
                   for e in events),
        installed=_installed(setups[-1]["data"].get("output", "")) if setups else None)


def _durations(config_read: float | None, ends: list[float]) -> list[float]:
    """Each setup command's seconds, from the end of the one before (or the config read)."""
    if config_read is None:
        return []
    return [end - begin for begin, end in zip([config_read, *ends], ends)]


def _installed(output: str) -> int | None:
    """How many packages pip's "Successfully installed a-1.0 b-1.0" line names."""
    lines = [line for line in output.splitlines() if line.startswith("Successfully installed ")]
    return len(lines[-1].split()) - 2 if lines else None


def _seconds(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "-"


def _setup_seconds(run: Startup) -> str:
    if not run.commands:
        return "-"
    return f"{sum(run.commands):.2f} ({' + '.join(f'{c:.2f}' for c in run.commands)})"


def _what_setup_did(run: Startup) -> str:
    if run.cached:
        return "setup skipped (cached)"
    if run.installed is None:
        return "setup ran: pip said it installed nothing"
    return f"setup ran: {run.installed} packages installed"


def report(index: PackageIndex, pinned: int, runs: list[Startup]) -> None:
    print(f"machine: {machine()}")
    print(f"package index: {index.url} (a network namespace), {pinned} packages pinned in "
          "requirements.txt")
    print("setup: " + "; ".join(setup_commands(index)))
    print(f"{'run':<24}  {'status':<8}  {'start→workspace s':>17}  {'setup s (venv + pip)':>20}  "
          f"{'start→first model request s':>27}  setup")
    for label, run in zip(LABELS, runs):
        print(f"{label:<24}  {run.status:<8}  {_seconds(run.to_workspace):>17}  "
              f"{_setup_seconds(run):>20}  {_seconds(run.to_model):>27}  {_what_setup_did(run)}")
    first, second = runs[0].to_model, runs[1].to_model
    if first and second is not None:
        print(f"second/first: {second / first:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=30,
                        help="orca-probe-all's dependencies (it makes one more)")
    args = parser.parse_args()
    if (problem := namespace_problem()) is not None:
        raise SystemExit(f"this bench serves its package index from {problem}; run it as root")
    with tempfile.TemporaryDirectory(prefix="orca-bench-index-") as scratch, \
            served_index(Path(scratch)) as index, orca_world() as world:
        scene, pinned = make_repository(world, index, args.packages)
        runs = [one_run(world, scene, n) for n in (1, 2)]
    report(index, pinned, runs)
    complete = all(r.to_model is not None and (r.cached or r.installed == pinned) for r in runs)
    return 0 if complete else 1


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"bench took {time.monotonic() - started:.0f} s")
    sys.exit(code)
