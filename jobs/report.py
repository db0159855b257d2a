"""The words users read: the tracking comment in each state, and the PR body. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from jobs.pricing import Usage


def marker(run_id: str) -> str:
    """A hidden marker that lets a retried job find its tracking comment again."""
    return f"<!-- orca-run: {run_id} -->"


@dataclass(frozen=True)
class Figures:
    """What a run consumed, for the last line of the tracking comment."""

    turns: int
    usage: Usage
    cost: float | None
    seconds: float

    def line(self) -> str:
        dollars = f"${self.cost:.2f}" if self.cost is not None else "cost unknown"
        tokens = self.usage.total_input + self.usage.output_tokens
        cached = self.usage.cache_read_input_tokens
        return (f"{self.turns} turns · {tokens:,} tokens ({cached:,} from cache) · "
                f"{dollars} · {self.seconds:.0f} s")


def working(run_id: str, requester: str) -> str:
    return (f"👀 Orca is working on this for @{requester}. "
            f"This comment will say how it went.\n\nRun `{run_id}`\n{marker(run_id)}")


def rejected(requester: str, permission: str) -> str:
    return (f"@{requester} Orca only takes requests from people with write access to this "
            f"repository (yours: `{permission}`). Ask a maintainer to add the label.")


def opened(run_id: str, pr_number: int, pr_url: str, summary: str, figures: Figures,
           dropped: list[str], stopped_by: str | None) -> str:
    head = f"✅ Opened #{pr_number}: {pr_url}"
    if stopped_by:
        head = f"⏸️ Stopped by {stopped_by}; the work so far is in draft #{pr_number}: {pr_url}"
    parts = [head, _quote(summary)]
    if dropped:
        parts.append(_dropped_note(dropped))
    parts.append(f"{figures.line()}\n\nRun `{run_id}`\n{marker(run_id)}")
    return "\n\n".join(p for p in parts if p)


def no_changes(run_id: str, summary: str, figures: Figures, dropped: list[str]) -> str:
    parts = ["🤷 Orca finished without changing any files, so there is no pull request.",
             _quote(summary)]
    if dropped:
        parts.append(_dropped_note(dropped))
    parts.append(f"{figures.line()}\n\nRun `{run_id}`\n{marker(run_id)}")
    return "\n\n".join(p for p in parts if p)


def failed(run_id: str, reason: str, retry_hint: str) -> str:
    return (f"❌ Orca's run failed: {reason}\n\n{retry_hint}\n\n"
            f"Run `{run_id}`\n{marker(run_id)}")


def pull_body(number: int, summary: str, dropped: list[str], stopped_by: str | None,
              requester: str) -> str:
    """The PR description: what closes, what the agent says it did, what Orca dropped."""
    parts = [f"Fixes #{number}", f"Requested by @{requester}."]
    if stopped_by:
        parts.append(f"**Unfinished:** the run was stopped by {stopped_by}.")
    parts.append("## Summary\n\n" + (summary or "The agent gave no summary."))
    if dropped:
        parts.append(_dropped_note(dropped))
    return "\n\n".join(parts)


def _quote(text: str) -> str:
    text = text.strip()
    return "\n".join(f"> {line}" for line in text.splitlines()) if text else ""


def _dropped_note(dropped: list[str]) -> str:
    listed = ", ".join(f"`{path}`" for path in dropped)
    return f"Orca dropped changes to protected paths: {listed}."
