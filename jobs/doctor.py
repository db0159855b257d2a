"""`orca doctor`: what the workers' sandbox can run, asked inside that sandbox.

It starts the sandbox a run would (ORCA_SANDBOX, ORCA_SANDBOX_MEMORY, ORCA_SANDBOX_TMP_SIZE)
on an empty scratch worktree and, in one command, asks each toolchain for its version. The
sandbox sees the machine's (or the image's) /usr read-only and a clean PATH, so this is what
a repository's `setup` commands and the agent can run, which is not always what the operator's
own shell finds (a toolchain under /root or /opt is not in it).
"""

from __future__ import annotations

import os
import shlex
import signal
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from core.settings import AgentSettings
from jobs.sandbox import CommandResult, SandboxUnavailable, make_sandbox
from jobs.sandbox.bounds import human_bytes
from jobs.sandbox.network import egress_problem
from jobs.sandbox.user import switches_user

# The whole check is one sandboxed command: a dozen sandboxes would take a second or more each
# as root (an outer bwrap, setpriv and a cgroup per command). A JVM or npm starts in about a
# second; a probe still going after PROBE_SECONDS is reported as such, and the command as a whole
# is killed at TIMEOUT_SECONDS.
PROBE_SECONDS = 20
TIMEOUT_SECONDS = 90
MAX_OUTPUT = 64_000
# Printed first by the command, so its absence means the sandbox never ran it.
STARTED = "orca-doctor: started"
MARKER = "orca-doctor: probe"


@dataclass(frozen=True)
class Toolchain:
    """One thing a repository's setup commonly needs, and how to ask it for its version."""

    name: str
    binary: str
    """What has to be on the sandbox's PATH for the probe to mean anything."""
    probe: str
    """A shell command whose first line of output (stdout and stderr) is the version."""


TOOLCHAINS = (
    Toolchain("python3", "python3", "python3 --version"),
    Toolchain("pip", "python3", "python3 -m pip --version"),
    # `python3 -m venv` needs ensurepip to put pip in the new environment; Debian ships it in
    # python3-venv, apart from python3, so `venv --help` alone would pass without it.
    Toolchain("venv", "python3", "python3 -c 'import ensurepip, venv; "
                                 "print(\"venv with ensurepip, pip\", ensurepip.version())'"),
    Toolchain("node", "node", "node --version"),
    Toolchain("npm", "npm", "npm --version"),
    Toolchain("go", "go", "go version"),
    Toolchain("cargo", "cargo", "cargo --version"),
    Toolchain("rustc", "rustc", "rustc --version"),
    Toolchain("java", "java", "java -version"),
    Toolchain("make", "make", "make --version"),
    Toolchain("gcc", "gcc", "gcc --version"),
    Toolchain("git", "git", "git --version"),
)


@dataclass(frozen=True)
class Finding:
    """What the sandbox said about one toolchain."""

    name: str
    found: bool
    version: str
    """The version line when found; otherwise why not ("not on PATH", the error's last line)."""
    path: str | None = None
    """Where the sandbox found the binary."""


@dataclass(frozen=True)
class Report:
    """Which sandbox ran the checks, whether it started, and what it found."""

    sandbox: str
    started: bool
    detail: str
    """How the sandbox runs commands, or why it could not start."""
    network: str
    """What network commands get, and whether a repository's `network: true` can be given."""
    tools: tuple[Finding, ...] = ()
    bounds: tuple[str, ...] = ()
    """The sandbox's bounds the checks ran into (a JVM past ORCA_SANDBOX_MEMORY...)."""

    def as_dict(self) -> dict:
        return asdict(self)


def probe_script(toolchains: tuple[Toolchain, ...] = TOOLCHAINS) -> str:
    """The one shell command that asks every toolchain, each section opened by a marker line:
    `MARKER name exit-status path`, then the probe's output (exit status 127: not on PATH)."""
    lines = [f"echo {shlex.quote(STARTED)}",
             f"limit=; command -v timeout >/dev/null && limit='timeout {PROBE_SECONDS}'"]
    for tool in toolchains:
        lines.append(
            f"where=$(command -v {tool.binary}) "
            f"&& {{ out=$($limit bash -c {shlex.quote(tool.probe)} 2>&1 </dev/null); code=$?; }} "
            f"|| {{ out=; code=127; }}; "
            f"echo \"{MARKER} {tool.name} $code $where\"; printf '%s\\n' \"$out\"")
    return "\n".join(lines)


def read_findings(output: str, toolchains: tuple[Toolchain, ...] = TOOLCHAINS
                  ) -> tuple[Finding, ...]:
    """The findings in the probe script's output; a tool with no section never got its turn."""
    sections: dict[str, tuple[int, str, list[str]]] = {}
    current: list[str] = []
    for line in output.splitlines():
        if line.startswith(MARKER + " "):
            name, code, where = (line[len(MARKER) + 1:].split(" ", 2) + [""])[:3]
            current = []
            sections[name] = (int(code), where, current)
        else:
            current.append(line)
    return tuple(_finding(tool, sections.get(tool.name)) for tool in toolchains)


def _finding(tool: Toolchain, section: tuple[int, str, list[str]] | None) -> Finding:
    if section is None:
        return Finding(tool.name, False, "not asked: the check ran out of time first")
    code, where, lines = section
    said = [line.strip() for line in lines if line.strip()]
    if code == 127 and not where:
        return Finding(tool.name, False, "not on PATH")
    if code == 124:
        return Finding(tool.name, False, f"`{tool.probe}` took over {PROBE_SECONDS} s", where)
    if code > 128:  # bash's status for a process killed by signal code - 128
        return Finding(tool.name, False, f"`{tool.probe}` was killed by {_signal(code - 128)}",
                       where)
    if code != 0:
        why = said[-1] if said else f"exit status {code}"
        return Finding(tool.name, False, f"`{tool.probe}` failed: {why}", where)
    return Finding(tool.name, True, said[0] if said else "(no version printed)", where)


def _signal(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def examine(settings: AgentSettings) -> Report:
    """Starts the sandbox runs use, with the operator's settings, and asks it what it can run."""
    network = _network(settings.sandbox)
    with tempfile.TemporaryDirectory(prefix="orca-doctor-") as scratch:
        try:
            sandbox = make_sandbox(Path(scratch), settings.sandbox,
                                   limits=settings.sandbox_limits())
            result = sandbox.run(probe_script(), timeout=TIMEOUT_SECONDS, max_output=MAX_OUTPUT)
        except (SandboxUnavailable, OSError) as error:
            return Report(settings.sandbox, False, str(error), network)
    if STARTED not in result.output:
        return Report(settings.sandbox, False, _no_start(result), network)
    return Report(settings.sandbox, True, _how(settings), network, read_findings(result.output),
                  tuple(hit.name for hit in result.bounds))


def _how(settings: AgentSettings) -> str:
    if settings.sandbox == "none":
        return f"ORCA_SANDBOX=none runs commands directly on this machine as uid {os.geteuid()}"
    limits = settings.sandbox_limits()
    user = "nobody (Orca runs as root)" if switches_user() else f"uid {os.geteuid()}"
    return (f"started; commands run as {user}, with {human_bytes(limits.memory_bytes)} of "
            f"memory and a {human_bytes(limits.tmp_bytes)} /tmp")


def _no_start(result: CommandResult) -> str:
    said = result.output.strip()[-500:] or "no output"
    if result.timed_out:
        return f"its first command did not start within {TIMEOUT_SECONDS} s ({said})"
    return f"its first command failed with exit status {result.exit_code}: {said}"


def _network(mode: str) -> str:
    if mode == "none":
        return "unrestricted: without a sandbox, commands reach whatever this machine reaches"
    problem = egress_problem()
    if problem is None:
        return "loopback only; repositories with `network: true` get the internet"
    return f"loopback only; runs of repositories with `network: true` will fail: {problem}"


def render(report: Report) -> str:
    """The report as the terminal shows it: the sandbox's line, then a table of toolchains."""
    name = "none: UNSANDBOXED" if report.sandbox == "none" else report.sandbox
    if not report.started:
        return f"sandbox: {name}: cannot start: {report.detail}"
    lines = [f"sandbox: {name}: {report.detail}",
             f"network: {report.network}", ""]
    width = max(len(finding.name) for finding in report.tools)
    for finding in report.tools:
        status = "found" if finding.found else "missing"
        lines.append(f"{finding.name:<{width}}  {status:<7}  {finding.version}")
    if report.bounds:
        lines += ["", f"The checks ran into the sandbox's bounds: {', '.join(report.bounds)}."]
    return "\n".join(lines)
