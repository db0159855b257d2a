"""Pure decisions: what a webhook event asks Orca to do, from the payload alone.

Nothing here does I/O. Each function takes the event name and the parsed payload and
returns a `Trigger` (start or continue a run) or `None` (nothing to do), so the
webhook view can answer GitHub within its 10-second budget and the table tests can
cover every case without a network.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


# Events Orca acts on. manifest.yml subscribes to all but those GitHub sends every App
# unasked ("You cannot manually subscribe to this event": docs.github.com/en/webhooks/
# webhook-events-and-payloads#installation); a test keeps the three in step.
ALWAYS_DELIVERED = frozenset({"installation", "installation_repositories"})
HANDLED_EVENTS = frozenset({"issues"}) | ALWAYS_DELIVERED


class PayloadError(ValueError):
    """The payload lacks a key or has a value of the wrong type (the view answers 400)."""


@dataclass(frozen=True)
class Trigger:
    """What a run needs to find its target again: ids only, never secrets."""

    kind: str
    """How the run was asked for: `label` (more kinds come with conversations)."""
    installation_id: int
    repository: str
    """`owner/name`."""
    repository_id: int
    number: int
    """The issue or pull request number."""
    requester: str
    """The login of the person who asked."""
    requester_id: int
    is_pull_request: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trigger:
        return cls(**data)

    @property
    def target(self) -> str:
        """One name for the issue or PR: runs on the same target never overlap."""
        return f"{self.repository}#{self.number}"


def get(payload: dict[str, Any], path: str, kind: type) -> Any:
    """`payload["a"]["b"]` for path "a.b", checked against `kind`, or PayloadError."""
    value: Any = payload
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            raise PayloadError(f"payload has no {path}")
        value = value[key]
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise PayloadError(f"payload {path} is not {kind.__name__}")
    return value


def is_bot(sender: dict[str, Any]) -> bool:
    """Bots (Orca itself included) never start runs: GitHub echoes an App's own actions."""
    login = sender.get("login")
    return sender.get("type") == "Bot" or (isinstance(login, str) and login.endswith("[bot]"))


def trigger_for(event: str, payload: dict[str, Any], *, label: str) -> Trigger | None:
    """The trigger carried by this delivery, or None when it asks nothing of Orca."""
    if not isinstance(payload, dict):
        raise PayloadError("payload is not a JSON object")
    if event == "issues" and payload.get("action") == "labeled":
        return _issue_labeled(payload, label)
    return None


def _issue_labeled(payload: dict[str, Any], label: str) -> Trigger | None:
    if get(payload, "label.name", str) != label:
        return None
    sender = get(payload, "sender", dict)
    if is_bot(sender):
        return None
    issue = get(payload, "issue", dict)
    if get(issue, "state", str) != "open":
        return None
    return Trigger(
        kind="label",
        installation_id=get(payload, "installation.id", int),
        repository=get(payload, "repository.full_name", str),
        repository_id=get(payload, "repository.id", int),
        number=get(issue, "number", int),
        requester=get(sender, "login", str),
        requester_id=get(sender, "id", int),
        is_pull_request="pull_request" in issue,
    )
