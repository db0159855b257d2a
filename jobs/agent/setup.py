"""The setup phase: `.github/orca.yml`'s `setup` commands, in a sandbox of their own before the
agent's, or an environment an earlier run kept (jobs.workspace.environments).

Setup runs the code being installed (`pip install -e .`, `npm ci`), so it gets more than the
agent only when that code is the base commit's: when the dependency and build files at the
worktree's commit are the base branch's, setup is *trusted*. Trusted setup gets an egress-only
network (the sandbox's: no host, private, link-local or metadata addresses), the setup-only
secrets (ORCA_SETUP_SECRETS), and its result is kept for later runs with the same key.
Untrusted setup (a branch whose lock file or build script differs from the base) gets what
the agent gets: the network only with `network: true`, no secrets, nothing kept.

A secret must not outlive setup: if one is found in the worktree afterwards (a token written
into `.npmrc`), the run ends before the agent starts and nothing is kept.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import RunError, SandboxUnavailable
from core.git import git
from core.settings import AgentSettings
from jobs.agent.loop import Emit
from jobs.sandbox import Sandbox, make_sandbox
from jobs.sandbox.network import egress_problem
from jobs.workspace import Workspace
from jobs.workspace.config import RepoConfig, SetupFailed
from jobs.workspace.environments import (
    EnvironmentStore,
    environment_key,
    products,
    toolchain,
    untrusted_files,
)

# Setup output quoted in the tracking comment: the tail is where the error is.
SETUP_TAIL = 2_000
SETUP_MAX_OUTPUT = 20_000


class SetupUnavailable(RunError):
    """Setup needs the network and the worker cannot give it; an operator has to fix it."""

    retry_hint = ("Ask the operators to fix the workers' sandbox network (slirp4netns and "
                  "nftables), then comment `/agent retry`.")


class SecretLeft(RunError):
    """Setup left a setup-only secret in the worktree, where the agent would read it."""

    retry_hint = ("Change the `setup` commands so the secret is not written into the "
                  "repository's folder (pass it through the environment only), then comment "
                  "`/agent retry`.")


@dataclass
class SetupPlan:
    """What setup may have beyond the agent's sandbox, decided by the operator's settings."""

    store: EnvironmentStore | None = None
    """Where environments are kept; None keeps nothing (`orca solve`)."""
    secrets: Mapping[str, str] = field(default_factory=dict)
    """Setup-only secrets, by variable name."""
    network: bool = True
    """Whether trusted setup gets the network (`orca solve` keeps the config's setting)."""


@dataclass(frozen=True)
class SetupPhase:
    """How setup went, for the transcript and the tracking comment."""

    seconds: float = 0.0
    ran: bool = False
    reused: bool = False
    trusted: bool = True
    network: bool = False
    kept: bool = False
    note: str = ""

    def words(self) -> str | None:
        """The tracking comment's words for it, or None when there was no setup."""
        if self.reused:
            return f"setup {self.seconds:.0f} s (environment kept from an earlier run)"
        if not self.ran:
            return None
        how = ["network" if self.network else "no network"]
        if self.kept:
            how.append("kept for later runs")
        elif not self.trusted:
            how.append("not kept: dependency files differ from the base branch")
        return f"setup {self.seconds:.0f} s ({', '.join(how)})"


def run_setup(sandbox: Sandbox, commands: list[str], timeout: float, emit: Emit) -> None:
    """Run the config's setup commands in order; SetupFailed quotes the first failure."""
    for command in commands:
        result = sandbox.run(command, timeout, SETUP_MAX_OUTPUT)
        emit("setup", {"command": command, "exit_code": result.exit_code,
                       "timed_out": result.timed_out, "output": result.output[-4000:]})
        if result.exit_code != 0 or result.timed_out:
            how = f"timed out after {timeout:g} s" if result.timed_out else f"exit code {result.exit_code}"
            how += "".join(f"; {hit.name}" for hit in result.bounds)
            tail = result.output[-SETUP_TAIL:].strip() or "(no output)"
            raise SetupFailed(f"the setup command `{command}` failed ({how}):\n\n```\n{tail}\n```")


def setup_phase(settings: AgentSettings, workspace: Workspace, config: RepoConfig,
                base: str, plan: SetupPlan, emit: Emit, stop: Callable[[], bool],
                sandbox_for: Callable[..., Sandbox] = make_sandbox) -> SetupPhase:
    """Reuse a kept environment, or run setup and keep what it made when it may."""
    if not config.setup:
        return SetupPhase()
    started = time.monotonic()
    patterns = config.setup_key.patterns()
    base_sha = git("rev-parse", "--verify", f"{base}^{{commit}}", cwd=workspace.mirror,
                   env={"GIT_DIR": str(workspace.mirror)}).strip()
    differing = untrusted_files(workspace.mirror, base_sha, workspace.base_sha, patterns)
    trusted = not differing
    key = environment_key(workspace.mirror, workspace.base_sha, config.setup, patterns,
                          toolchain())
    store = plan.store if trusted else None
    if store is not None and (restored := store.restore(key, workspace.path)) is not None:
        phase = SetupPhase(time.monotonic() - started, reused=True, trusted=True)
        emit("setup_phase", {"cached": True, "key": key, "restored": restored[:50],
                             "seconds": round(phase.seconds, 2)})
        return phase
    network = (plan.network or config.network) if trusted else config.network
    secrets = dict(plan.secrets) if trusted else {}
    try:
        sandbox = sandbox_for(workspace.path, settings.sandbox, ro_binds=[workspace.mirror],
                              rw_binds=[workspace.admin_dir], network=network,
                              limits=settings.sandbox_limits(), env=secrets)
    except SandboxUnavailable as exc:
        if network and not config.network and (problem := egress_problem()):
            raise SetupUnavailable(f"setup runs with the network, and the worker cannot give "
                                   f"it one: {problem}") from exc
        raise
    run_setup(sandbox, config.setup, settings.command_timeout, emit)
    if stop():
        return SetupPhase(time.monotonic() - started, ran=True, trusted=trusted, network=network)
    if secrets and (found := secrets_left(workspace.path, secrets)):
        raise SecretLeft("setup left a setup-only secret in the repository's folder, where the "
                         f"agent would read it: {found}. Nothing was kept.")
    kept_note = ""
    kept = False
    if store is not None:
        outcome = store.keep(key, workspace.path, products(workspace.view))
        kept, kept_note = outcome.kept, outcome.why
    phase = SetupPhase(time.monotonic() - started, ran=True, trusted=trusted, network=network,
                       kept=kept, note=kept_note)
    emit("setup_phase", {"cached": False, "key": key, "trusted": trusted, "network": network,
                         "secrets": sorted(secrets), "kept": kept, "not_kept": kept_note,
                         "differing": differing[:20], "seconds": round(phase.seconds, 2)})
    return phase


def secrets_left(worktree: Path, secrets: Mapping[str, str]) -> str:
    """Where the worktree holds a secret's value, as "NAME in path, ...", or ""."""
    found = []
    with tempfile.NamedTemporaryFile("w", prefix="orca-secrets-") as patterns:
        values = [value for value in secrets.values() if value]
        if not values:
            return ""
        patterns.write("\n".join(values) + "\n")
        patterns.flush()
        done = subprocess.run(["grep", "-rlZF", "-f", patterns.name, "--", "."], cwd=worktree,
                              capture_output=True, timeout=600)
    paths = [p.decode(errors="replace").removeprefix("./") for p in done.stdout.split(b"\0") if p]
    for path in paths[:10]:
        content = (worktree / path).read_bytes()
        names = [name for name, value in secrets.items() if value and value.encode() in content]
        found.append(f"{', '.join(names) or 'a secret'} in `{path}`")
    return "; ".join(found)
