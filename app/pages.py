"""What every mission control page shares: how figures read, how events are summarised,
links to GitHub, and the security headers. Pure functions, registered as Jinja filters.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g

from app import viewer

# Run outputs reach these pages (tool output, model text): scripts run only with this
# response's nonce, and nothing is loaded from elsewhere.
CSP = ("default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
       "connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")


def csp_nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def secure_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP.format(nonce=csp_nonce())
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"  # pages differ per person
    return response


def _known(value: Any) -> bool:
    """A number, not None or a field the record lacks (Jinja's Undefined)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def duration(seconds: float | None) -> str:
    """`42 s`, `3 min 05 s`, `2 h 07 min`."""
    if not _known(seconds):
        return "—"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def elapsed(run: dict[str, Any], now: float | None = None) -> float | None:
    """From the request to the end, or to now while the run is queued or running."""
    created = run.get("created_at")
    if created is None:
        return None
    end = run.get("finished_at") or (now if now is not None else time.time())
    return end - created


def number(value: Any) -> str:
    return f"{int(value):,}" if _known(value) else "—"


def dollars(value: Any) -> str:
    return f"${float(value):.2f}" if _known(value) else "—"


def when(timestamp: float | None) -> str:
    if not _known(timestamp):
        return "—"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def target_url(github_url: str, run: dict[str, Any]) -> str:
    """The issue or pull request the run works on."""
    kind = "pull" if run.get("is_pull_request") else "issues"
    return f"{github_url}/{run.get('repository')}/{kind}/{run.get('number')}"


def event_summary(event: dict[str, Any]) -> str:
    """One line for an event of the run's transcript; an attempt's events say whose they are."""
    data = event.get("data") or {}
    line = _event_line(event["kind"], data)
    return f"attempt {data['attempt']} · {line}" if data.get("attempt") else line


def _event_line(kind: str, data: dict[str, Any]) -> str:
    if kind == "attempts" and data.get("winner"):
        return (f"attempt {data['winner']} of {len(data.get('attempts') or ())} picked: "
                f"{data.get('how') or 'the only one with a change'}")
    if kind == "budget":
        return (f"limits: {number(data.get('max_turns'))} turns · {number(data.get('max_tokens'))} "
                f"tokens · {dollars(data.get('max_dollars'))} · {data.get('max_minutes')} min")
    if kind == "model":
        spent = data.get("spent") or {}
        what = {"check": "fresh-context check", "judge": "judge"}.get(data.get("purpose") or "",
                                                                       f"turn {data.get('turn')}")
        # A turn often costs under a cent: four places, where the totals show two.
        turn = f" · ${data['dollars']:.4f} this turn" if _known(data.get("dollars")) else ""
        return (f"{what} ({data.get('stop_reason')}){turn} · so far "
                f"{number(spent.get('tokens'))} tokens · {dollars(spent.get('dollars'))}")
    if kind == "tool":
        return _tool_line(data)
    if kind == "stopped":
        return f"stopped by {data.get('by')}"
    if kind == "failed":
        return f"failed: {data.get('reason')}"
    if kind == "setup_phase":
        return _setup_line(data)
    if kind == "tests":
        return _tests_line(data)
    if kind == "agent_phase":
        network = "network" if data.get("network") else "no network"
        return f"agent phase: {data.get('seconds', 0):.0f} s ({network})"
    return f"{kind}: {_short(data)}"


def _setup_line(data: dict[str, Any]) -> str:
    seconds = f"{data.get('seconds', 0):.0f} s"
    if data.get("cached"):
        return f"setup phase: {seconds}, environment kept from an earlier run"
    how = ["network" if data.get("network") else "no network"]
    if data.get("secrets"):
        how.append("secrets " + ", ".join(data["secrets"]))
    if data.get("kept"):
        how.append("kept for later runs")
    elif not data.get("trusted", True):
        how.append("not kept: dependency files differ from the base branch")
    elif data.get("not_kept"):
        how.append(f"not kept: {data['not_kept']}")
    return f"setup phase: {seconds} ({', '.join(how)})"


# Where Orca ran the tests (jobs.verify.checks' `tests` events).
_TESTS_AT = {"base": "at the base commit", "after": "on the change",
             "final": "on the change, after the repair round", "head": "at the pull request's head"}


def _tests_line(data: dict[str, Any]) -> str:
    where = _TESTS_AT.get(data.get("at") or "", str(data.get("at")))
    regressed = " · a regression against the base" if data.get("regressed") else ""
    return f"tests {where}: {data.get('command')} · {tests_outcome(data)}{regressed}"


def tests_outcome(figures: dict[str, Any]) -> str:
    """One run of the tests in words: "1 failed, 40 passed · exit 1 · 3.2 s"."""
    said = [figures.get("counts") or ("passed" if figures.get("passed") else "failed")]
    if figures.get("timed_out"):
        said.append("timed out")
    elif _known(figures.get("exit_code")):
        said.append(f"exit {figures['exit_code']}")
    if _known(figures.get("seconds")):
        said.append(f"{figures['seconds']:.1f} s")
    return " · ".join(said)


def _tool_line(data: dict[str, Any]) -> str:
    tool_input = data.get("input") or {}
    if data.get("name") == "bash":
        what = f"$ {tool_input.get('command', '')}"
    else:
        what = f"{tool_input.get('command', '')} {tool_input.get('path', '')}"
    error = " (error)" if data.get("is_error") else ""
    code = data.get("exit_code")
    status = f" · exit {code}" if _known(code) else ""
    return f"{data.get('name')}{error}: {what.splitlines()[0][:200] if what else ''}{status}"


def _short(data: dict[str, Any], limit: int = 300) -> str:
    text = json.dumps(data, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "…"


def pretty(data: Any) -> str:
    return json.dumps(data, default=str, ensure_ascii=False, indent=2)


def register(app: Flask) -> None:
    """Make the helpers available to every template."""
    for name, function in (("duration", duration), ("number", number), ("dollars", dollars),
                           ("when", when), ("event_summary", event_summary), ("pretty", pretty)):
        app.add_template_filter(function, name)
    app.add_template_global(csp_nonce, "csp_nonce")
    app.add_template_global(viewer.csrf_token, "csrf_token")
