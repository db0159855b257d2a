"""Orca's settings: one typed object, read from the environment and a `.env` file.

Nothing here is read at import time; `load_settings()` is called by the CLI, the
web app factory and each job, so tests can build their own `Settings(...)`. A job's call
costs little: the object read for the same environment, working directory and `.env` file
(its inode, size and modification time) is kept and handed out again, and is frozen so
that no caller can change what the next one gets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from dotenv import dotenv_values
from pydantic import ByteSize, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.budget import Budget

# A current Sonnet-class model; tests fail if the SDK marks it deprecated.
DEFAULT_MODEL = "claude-sonnet-5-5"


SettingsType = TypeVar("SettingsType", bound="AgentSettings")


@dataclass(frozen=True)
class Limits:
    """Resource limits for every command run in the sandbox."""

    cpu_seconds: int = 600
    """CPU time per process (RLIMIT_CPU); a busy loop is killed after this."""
    memory_bytes: int = 4 * 1024**3
    """Memory the command's processes use together, /tmp's files included (a memory cgroup
    when Orca runs as root); without a memory cgroup, the address space of each process
    (RLIMIT_AS)."""
    processes: int = 512
    """Processes and threads at once; stops fork bombs (pids.max as root, else RLIMIT_NPROC)."""
    file_size_bytes: int = 1024**3
    """Largest file a command may write (RLIMIT_FSIZE); the writer gets SIGXFSZ beyond it."""
    tmp_bytes: int = 1024**3
    """Size of the command's private /tmp (a tmpfs, so it is memory too)."""
    niceness: int = 10
    """How much lower the command's CPU priority is than the worker's (`nice -n`), so that
    acknowledgements and Orca's own work get the CPU first when commands keep it busy."""


class SettingsError(Exception):
    """A missing or malformed setting; the message is one line naming it."""


class AgentSettings(BaseSettings):
    """The settings the agent itself needs: enough for `orca solve`, which has no GitHub."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True,
                                      frozen=True)

    anthropic_api_key: str = Field(default="", alias="ANTHROPIC_API_KEY")
    """The model key (the anthropic SDK's own variable)."""
    anthropic_base_url: str | None = Field(default=None, alias="ANTHROPIC_BASE_URL")
    """Optional Messages API base (the SDK's own variable)."""
    model: str = Field(default=DEFAULT_MODEL, alias="ORCA_MODEL")
    """The model the agent runs on."""
    sandbox: str = Field(default="bubblewrap", alias="ORCA_SANDBOX")
    """`bubblewrap`, or `none` for local trials only."""
    sandbox_memory: ByteSize = Field(default=ByteSize(4 * 1024**3), alias="ORCA_SANDBOX_MEMORY",
                                     ge=16 * 1024**2)
    """Memory one sandboxed command's processes may use together, /tmp included ("4GiB")."""
    sandbox_tmp_size: ByteSize = Field(default=ByteSize(1024**3), alias="ORCA_SANDBOX_TMP_SIZE",
                                       ge=1024**2)
    """Size of each sandboxed command's private /tmp ("1GiB"); it is memory, so it counts in
    ORCA_SANDBOX_MEMORY."""
    # Strong harnesses allow 250 steps or $3 (mini-swe-agent) and take about fifty tool calls
    # at the median on benchmark tasks: the turns should rarely bind before dollars or minutes.
    max_turns: int = Field(default=150, alias="ORCA_MAX_TURNS", ge=1)
    """Model turns a run may take before it stops."""
    command_timeout: float = Field(default=300.0, alias="ORCA_COMMAND_TIMEOUT", gt=0)
    """Seconds one bash command may run before its process group is killed."""
    model_timeout: float = Field(default=600.0, alias="ORCA_MODEL_TIMEOUT", gt=0)
    """Seconds a model request may go without an answer before the SDK gives up and retries."""
    max_attempts: int = Field(default=3, alias="ORCA_MAX_ATTEMPTS", ge=1, le=10)
    """The most attempts one request may ask for (`--attempts N`, `attempts:` in the config)."""
    max_subtasks: int = Field(default=8, alias="ORCA_MAX_SUBTASKS", ge=1, le=50)
    """The most sub-tasks one plan may have (`/agent plan`); each becomes a sub-issue and a run
    on `/agent go`."""
    fresh_check: bool = Field(default=True, alias="ORCA_FRESH_CHECK")
    """Before publishing, one model call that sees only the request, the diff and the test
    output looks for defects (jobs.agent.fresh_check)."""
    strict_model_responses: bool = Field(default=False, alias="ORCA_STRICT_MODEL_RESPONSES")
    """Reject model responses that do not match the SDK's types (tests)."""
    max_tokens: int = Field(default=10_000_000, alias="ORCA_MAX_TOKENS", ge=1)
    """Tokens a run may use: input (cache reads and writes included) plus output."""
    max_dollars: float = Field(default=10.0, alias="ORCA_MAX_DOLLARS", gt=0)
    """Dollars a run may spend, at ORCA_PRICES or the built-in list prices."""
    max_review_dollars: float = Field(default=2.0, alias="ORCA_MAX_REVIEW_DOLLARS", gt=0)
    """Dollars one review of a pull request may spend (never more than ORCA_MAX_DOLLARS); a
    repository's `review.max_dollars` can lower it."""
    max_minutes: float = Field(default=45.0, alias="ORCA_MAX_MINUTES", gt=0)
    """Minutes the agent loop may take; keep it under ORCA_RUN_TIMEOUT so publishing fits."""
    prices: dict[str, tuple[float, float]] = Field(default_factory=dict, alias="ORCA_PRICES")
    """JSON {model prefix: [input, output] dollars per million tokens} over the built-in table."""
    context_window: int = Field(default=200_000, alias="ORCA_CONTEXT_WINDOW", ge=10_000)
    """The model's context window in tokens; old tool output is cleared near it."""

    @field_validator("sandbox")
    @classmethod
    def _known_sandbox(cls, value: str) -> str:
        if value not in ("bubblewrap", "none"):
            raise ValueError("must be 'bubblewrap' or 'none'")
        return value

    def sandbox_limits(self) -> Limits:
        """The bounds on every sandboxed command; the others keep Limits' defaults."""
        return Limits(memory_bytes=int(self.sandbox_memory), tmp_bytes=int(self.sandbox_tmp_size))

    def budget(self) -> Budget:
        """The operator's ceiling for every run; a repository's config can only lower it."""
        return Budget(self.max_turns, self.max_tokens, self.max_dollars, self.max_minutes)


class GitHubEndpoint(BaseSettings):
    """Which GitHub Orca talks to; all `orca setup` needs before an App exists."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    github_url: str = Field(default="https://github.com", alias="GITHUB_URL")
    """github.com, a GitHub Enterprise Server, or a local test server."""
    github_api_url: str = Field(default="", alias="GITHUB_API_URL")
    """Optional override of the REST base (default: derived from GITHUB_URL)."""

    @field_validator("github_url", "github_api_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def api_url(self) -> str:
        """The REST base: api.github.com for github.com, `{GITHUB_URL}/api/v3` otherwise."""
        if self.github_api_url:
            return self.github_api_url
        if self.github_url == "https://github.com":
            return "https://api.github.com"
        return f"{self.github_url}/api/v3"

    def clone_url(self, full_name: str) -> str:
        """The git URL of a repository on this GitHub."""
        return f"{self.github_url}/{full_name}.git"


class Settings(AgentSettings, GitHubEndpoint):
    """Every setting Orca reads. The README's settings table lists each of them."""

    github_app_id: int = Field(alias="GITHUB_APP_ID")
    """The App's numeric id, shown on its settings page."""
    github_private_key: str = Field(default="", alias="GITHUB_PRIVATE_KEY")
    """The App's private key as PEM text (or use GITHUB_PRIVATE_KEY_PATH)."""
    github_private_key_path: Path | None = Field(default=None, alias="GITHUB_PRIVATE_KEY_PATH")
    """A file holding the App's private key (PEM)."""
    github_webhook_secret: str = Field(alias="GITHUB_WEBHOOK_SECRET")
    """The secret GitHub signs webhook deliveries with."""
    github_client_id: str = Field(default="", alias="GITHUB_CLIENT_ID")
    """The App's OAuth client id (sign-in to mission control); `orca setup` writes it."""
    github_client_secret: str = Field(default="", alias="GITHUB_CLIENT_SECRET")
    """The App's OAuth client secret; `orca setup` writes it."""
    session_secret: str = Field(default="", alias="ORCA_SESSION_SECRET")
    """Signs mission control's session cookie; empty: derived from GITHUB_WEBHOOK_SECRET."""
    admin_token: str = Field(default="", alias="ORCA_ADMIN_TOKEN")
    """An operator's token for mission control (sees and stops every run); empty: off."""
    metrics_token: str = Field(default="", alias="ORCA_METRICS_TOKEN")
    """A bearer token /metrics requires (`Authorization: Bearer <token>`); empty: open."""
    public_url: str = Field(default="", alias="ORCA_PUBLIC_URL")
    """Orca's address as people reach it (`https://orca.example.com`); set, the tracking
    comment and the pull request link to the run's page; `orca setup` fills it in."""
    replay_window: int = Field(default=3 * 24 * 3600, alias="ORCA_REPLAY_WINDOW", ge=60)
    """Seconds a delivery's trigger stays fresh (GitHub redelivers for 3 days); older is refused."""
    redis_url: str = Field(default="redis://localhost:6379/0", alias="REDIS_URL")
    """Where the queues, run records and run events live."""
    trigger_label: str = Field(default="agent", alias="ORCA_TRIGGER_LABEL")
    """The issue label that starts a run."""
    data_dir: Path = Field(default=Path(".orca"), alias="ORCA_DATA_DIR")
    """Mirror cache and per-run worktrees."""
    worktree_pool: int = Field(default=4, alias="ORCA_WORKTREE_POOL", ge=0)
    """Worktrees kept per repository and lent to runs, reset each time (0: a fresh one per run)."""
    run_timeout: int = Field(default=3600, alias="ORCA_RUN_TIMEOUT", ge=60)
    """Seconds a whole run may take (the RQ job timeout)."""
    max_ci_rounds: int = Field(default=2, alias="ORCA_MAX_CI_ROUNDS", ge=0)
    """CI rounds Orca starts by itself on one of its pull requests; past it, it says so."""
    max_review_rounds: int = Field(default=5, alias="ORCA_MAX_REVIEW_ROUNDS", ge=0)
    """Reviews Orca addresses on one of its pull requests; past it, it says so and stops."""
    daily_dollars: float = Field(default=0.0, alias="ORCA_DAILY_DOLLARS", ge=0)
    """Dollars each installation may spend per UTC day; past it, new runs are refused until
    midnight UTC (running ones finish). 0: no daily budget."""
    max_runs: int = Field(default=4, alias="ORCA_MAX_RUNS", ge=1)
    """Runs at once overall: `orca up` starts this many run workers (one run each)."""
    max_runs_per_installation: int = Field(default=2, alias="ORCA_MAX_RUNS_PER_INSTALLATION", ge=1)
    """Runs at once per installation (organisation or account); the rest wait their turn."""
    github_write_interval: float = Field(default=1.0, alias="ORCA_GITHUB_WRITE_INTERVAL", ge=0)
    """Seconds between GitHub writes per installation, across all workers (0: off, tests)."""
    setup_secrets: str = Field(default="", alias="ORCA_SETUP_SECRETS",
                               pattern=r"^\s*([A-Za-z_][A-Za-z0-9_]*\s*(,\s*|$))*$")
    """Names of variables in the workers' environment (or .env) that setup commands get, and
    nothing else does: `NPM_TOKEN,PIP_INDEX_URL`. Only when the dependency files are the base
    branch's."""
    env_cache_gb: float = Field(default=5.0, alias="ORCA_ENV_CACHE_GB", ge=0)
    """Disk for environments kept warm, per repository (least recently used go first; 0: none)."""
    # `orca web` runs 8 threads per process by default: 4 streams leave the other half to
    # webhooks, pages and polls (app.mission.stream).
    max_streams: int = Field(default=4, alias="ORCA_MAX_STREAMS", ge=0)
    """Run pages each web process follows live at once (Server-Sent Events); more pages poll
    instead. `orca web` keeps it at most its --threads less two. 0: every page polls."""
    stream_seconds: float = Field(default=300.0, alias="ORCA_STREAM_SECONDS", ge=1)
    """Seconds one live stream of a run page stays open; the browser then reconnects, taking
    a free stream or polling."""

    @model_validator(mode="after")
    def _key_present(self) -> Settings:
        if not self.github_private_key and not self.github_private_key_path:
            raise ValueError("GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH is required")
        return self

    def setup_secret_values(self) -> dict[str, str]:
        """The setup-only secrets, by name: from the environment, else the `.env` file."""
        names = [name.strip() for name in self.setup_secrets.split(",") if name.strip()]
        if not names:
            return {}
        found = {name: os.environ[name] for name in names if os.environ.get(name)}
        if len(found) < len(names) and Path(".env").is_file():
            from_file = dotenv_values(".env")
            found |= {name: value for name in names if name not in found
                      and (value := from_file.get(name))}
        return found

    def private_key(self) -> str:
        """The PEM text, from the variable or the file."""
        if self.github_private_key:
            return self.github_private_key.replace("\\n", "\n")
        assert self.github_private_key_path is not None
        try:
            return self.github_private_key_path.read_text()
        except OSError as exc:
            raise SettingsError(f"GITHUB_PRIVATE_KEY_PATH: cannot read {exc.filename}") from exc



def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning pydantic's report into one line that names the setting."""
    if overrides:
        return _load(Settings, overrides)
    return _read_once(Settings, _where_settings_come_from())


def load_agent_settings(**overrides: object) -> AgentSettings:
    """Only the agent's settings (for `orca solve`): no GitHub App needed."""
    if overrides:
        return _load(AgentSettings, overrides)
    return _read_once(AgentSettings, _where_settings_come_from())


def _where_settings_come_from() -> tuple[object, ...]:
    """What a read of the settings depends on: the environment, the working directory and the
    `.env` file in it. Reading them again gives the same object while these are unchanged."""
    try:
        found = os.stat(".env")
        env_file: tuple[int, ...] | None = (found.st_dev, found.st_ino, found.st_size,
                                            found.st_mtime_ns)
    except OSError:
        env_file = None
    return tuple(sorted(os.environ.items())), os.getcwd(), env_file


@lru_cache(maxsize=8)
def _read_once(kind: type[SettingsType], _source: tuple[object, ...]) -> SettingsType:
    return _load(kind, {})


def _load(kind: type[SettingsType], overrides: dict[str, object]) -> SettingsType:
    try:
        return kind(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ".".join(str(part) for part in error["loc"]) or "settings"
        if error["type"] == "missing":
            raise SettingsError(f"{name} is not set") from None
        raise SettingsError(f"{name}: {error['msg']}") from None
