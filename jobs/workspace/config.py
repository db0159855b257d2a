"""A repository's own Orca settings: `.github/orca.yml`, read at the run's base commit.

    model: claude-sonnet-5-5
    budgets: {max_turns: 40, max_tokens: 2000000, max_dollars: 3, max_minutes: 20}
    setup: [python3 -m venv .venv, .venv/bin/pip install -e .]
    setup_key: [requirements/*.txt]     # or {paths: [...], defaults: false}
    test: pytest -q
    network: false
    protected_paths: ["migrations/*"]
    review: {auto: true, skip_drafts: true, paths: ["src/**"], authors: writers,
             request_changes: false, max_dollars: 2}

The file is data from whoever can push to the default branch, so it is parsed strictly:
YAML `safe_load` (no Python objects), a size cap, unknown keys and wrong types refused. A bad
file ends the run with the parser's words, rather than running with a guess.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.errors import RunError
from jobs.workspace.environments import DEFAULT_KEY_FILES
from jobs.workspace.repo_files import NotRegularFile, find_blob, read_text

CONFIG_PATH = ".github/orca.yml"
# A generous config is a few hundred bytes; 32 KB leaves room for long setup scripts and
# keeps a hostile file from costing memory or time in the parser.
MAX_CONFIG_BYTES = 32_000
# Setup commands and protected paths: enough for any real repository, bounded all the same.
MAX_ITEMS = 50
MAX_COMMAND_CHARS = 2_000
MAX_ERROR_CHARS = 1_500


class ConfigError(RunError):
    """`.github/orca.yml` is malformed; the message quotes the problem."""

    retry_hint = ("Fix `.github/orca.yml` on the default branch, then remove the label and "
                  "add it again.")


class SetupFailed(RunError):
    """A setup command from `.github/orca.yml` failed; the message quotes its output."""

    retry_hint = ("Fix the `setup` commands in `.github/orca.yml` (they run in the sandbox, "
                  "with the network when the dependency files are the base branch's), then "
                  "comment `/agent retry`.")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class RepoBudgets(_Strict):
    """Limits a repository asks for; they can only lower the operator's (core.budget)."""

    max_turns: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_dollars: float | None = Field(default=None, gt=0)
    max_minutes: float | None = Field(default=None, gt=0)

    def wishes(self) -> dict[str, float | int | None]:
        return self.model_dump()


class SetupKey(_Strict):
    """Which files' content decides a kept environment's key (jobs.workspace.environments)."""

    paths: list[str] = Field(default_factory=list, max_length=MAX_ITEMS)
    """Patterns (fnmatch; by file name, or by path when they have a slash)."""
    defaults: bool = True
    """Whether the default lock files and manifests count too."""

    @field_validator("paths")
    @classmethod
    def _sensible_paths(cls, items: list[str]) -> list[str]:
        if any(not item.strip() or len(item) > MAX_COMMAND_CHARS for item in items):
            raise ValueError(f"entries must be non-empty and at most {MAX_COMMAND_CHARS:,} characters")
        return items

    def patterns(self) -> tuple[str, ...]:
        return (*(DEFAULT_KEY_FILES if self.defaults else ()), *self.paths)


class ReviewConfig(_Strict):
    """How Orca reviews the repository's pull requests (jobs.review, jobs.steer.auto_review)."""

    auto: bool = False
    """Review pull requests when they are opened, marked ready or pushed to."""
    skip_drafts: bool = True
    """No automatic review of a draft (it gets one when marked ready)."""
    paths: list[str] = Field(default_factory=list, max_length=MAX_ITEMS)
    """Globs (fnmatch, `**` included): an automatic review only when the change touches one."""
    authors: Literal["writers", "everyone"] = "writers"
    """Whose pull requests are reviewed automatically; `everyone` needs ORCA_DAILY_DOLLARS."""
    request_changes: bool = False
    """Whether a review with a critical or major finding may request changes."""
    max_dollars: float | None = Field(default=None, gt=0)
    """Lowers ORCA_MAX_REVIEW_DOLLARS for this repository."""


class PlansConfig(_Strict):
    """How a plan's sub-tasks wait for each other (jobs.steer.fleets)."""

    wait_for: Literal["opened", "merged"] = "opened"
    """A sub-task starts when the ones it waits for have their pull requests opened (starting
    from the first one's branch), or merged (starting from the default branch)."""


class RepoConfig(_Strict):
    """Everything `.github/orca.yml` may say; every field is optional."""

    model: str | None = Field(default=None, max_length=100, pattern=r"^[A-Za-z0-9._:@/-]+$")
    """The model to run on instead of the operator's ORCA_MODEL."""
    budgets: RepoBudgets = RepoBudgets()
    setup: list[str] = Field(default_factory=list, max_length=MAX_ITEMS)
    """Commands run in a sandbox of their own, in order, before the agent starts."""
    setup_key: SetupKey = SetupKey()
    """What decides whether an environment setup made before can be used again: a list adds
    paths to the defaults; `{paths: [...], defaults: false}` replaces them."""
    test: str | None = Field(default=None, min_length=1, max_length=MAX_COMMAND_CHARS)
    """The repository's test command, given to the model."""
    network: bool = False
    """Whether the agent's sandbox may reach the internet (jobs.sandbox.network); setup has it
    anyway when its dependency files are the base branch's (jobs.agent.setup)."""
    protected_paths: list[str] = Field(default_factory=list, max_length=MAX_ITEMS)
    """Globs (fnmatch) whose changes Orca drops, on top of the defaults."""
    attempts: int = Field(default=1, ge=1, le=10)
    """Independent attempts at once for a labelled issue, at most ORCA_MAX_ATTEMPTS (jobs.attempts)."""
    review: ReviewConfig = ReviewConfig()
    """Orca's reviews of pull requests."""
    plans: PlansConfig = PlansConfig()
    """Plans' sub-tasks (`/agent plan`, `/agent go`)."""

    @field_validator("setup_key", mode="before")
    @classmethod
    def _paths_alone(cls, value: object) -> object:
        return {"paths": value} if isinstance(value, list) else value

    @field_validator("setup", "protected_paths")
    @classmethod
    def _sensible_items(cls, items: list[str]) -> list[str]:
        for item in items:
            if not item.strip() or len(item) > MAX_COMMAND_CHARS:
                raise ValueError(f"entries must be non-empty and at most {MAX_COMMAND_CHARS:,} characters")
        return items


def parse_config(raw: bytes) -> RepoConfig:
    """The config in `raw`, or ConfigError quoting what is wrong with it."""
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"`{CONFIG_PATH}` is {len(raw):,} bytes; the limit is {MAX_CONFIG_BYTES:,}.")
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(_quoted(f"`{CONFIG_PATH}` is not valid YAML", str(exc))) from None
    if data is None:
        return RepoConfig()
    if not isinstance(data, dict):
        raise ConfigError(f"`{CONFIG_PATH}` must be a mapping of settings, not {type(data).__name__}.")
    try:
        return RepoConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_quoted(f"`{CONFIG_PATH}` is not valid", _problems(exc))) from None


def load_config(repository: Path, revision: str) -> RepoConfig:
    """The config at `revision` of Orca's git directory `repository` (the defaults when there
    is none).

    Read from git objects rather than the worktree (jobs.workspace.repo_files): it is the base commit's
    file whatever the agent does, and a symlink there (which could point at a file of the
    worker's) is refused.
    """
    try:
        blob = find_blob(repository, revision, CONFIG_PATH)
    except NotRegularFile:
        raise ConfigError(f"`{CONFIG_PATH}` must be a regular file, not a link or a folder.") from None
    if blob is None:
        return RepoConfig()
    if blob.size > MAX_CONFIG_BYTES:
        raise ConfigError(f"`{CONFIG_PATH}` is {blob.size:,} bytes; the limit is {MAX_CONFIG_BYTES:,}.")
    try:
        text = read_text(repository, blob)
    except UnicodeDecodeError:
        raise ConfigError(f"`{CONFIG_PATH}` is not UTF-8 text.") from None
    return parse_config(text.encode())


def _problems(exc: ValidationError) -> str:
    """Each problem as `where: what`, without echoing the (possibly huge) input values."""
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"{where}: {error['msg']}")
    return "\n".join(lines)


def _quoted(headline: str, detail: str) -> str:
    return f"{headline}:\n\n```\n{detail[:MAX_ERROR_CHARS]}\n```"
