"""Installation events, decided from the payload alone, and the record Orca keeps of them.

`installation` (created, deleted, suspend, unsuspend, new_permissions_accepted) and
`installation_repositories` (added, removed) tell Orca where it is installed; the fleet
pages and budgets read the record, and a deleted or suspended installation's queued
runs are cancelled (jobs/steer/installation_changes.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import redis

from core import keys
from core.triggers import PayloadError, get, is_unicode

INSTALLATION_EVENTS = frozenset({"installation", "installation_repositories"})
# What each action leaves the installation as.
_STATUS = {"created": "active", "unsuspend": "active", "new_permissions_accepted": "active",
           "suspend": "suspended", "deleted": "deleted"}


@dataclass(frozen=True)
class InstallationChange:
    """One change to an installation: ids and names only."""

    installation_id: int
    action: str
    account: str
    status: str | None
    """active, suspended or deleted; None when only the repositories changed."""
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def stops_runs(self) -> bool:
        return self.status in ("suspended", "deleted")


def _names(payload: dict[str, Any], key: str) -> list[str]:
    items = payload.get(key) or []
    if not isinstance(items, list):
        raise PayloadError(f"payload {key} is not a list")
    return [item["full_name"] for item in items
            if isinstance(item, dict) and isinstance(item.get("full_name"), str)
            and is_unicode(item["full_name"])]


def installation_change(event: str, payload: dict[str, Any]) -> InstallationChange | None:
    """The change this delivery reports, or None for other events and unknown actions."""
    if event not in INSTALLATION_EVENTS:
        return None
    action = get(payload, "action", str)
    if event == "installation" and action not in _STATUS:
        return None
    return InstallationChange(
        installation_id=get(payload, "installation.id", int),
        action=action,
        account=get(payload, "installation.account.login", str),
        status=_STATUS.get(action) if event == "installation" else None,
        added=_names(payload, "repositories_added" if event != "installation" else "repositories"),
        removed=_names(payload, "repositories_removed"),
    )


class InstallationStore:
    """Installations in Redis: a hash per installation and a set of its repositories."""

    def __init__(self, connection: redis.Redis) -> None:
        self.redis = connection

    def apply(self, change: InstallationChange, at: float) -> None:
        key = keys.installation(change.installation_id)
        fields = {"account": change.account, "updated_at": str(at)}
        if change.status:
            fields["status"] = change.status
        pipe = self.redis.pipeline()
        pipe.hset(key, mapping=fields)
        pipe.sadd(keys.INSTALLATIONS, change.installation_id)
        if change.added:
            pipe.sadd(f"{key}:repos", *change.added)
        if change.removed:
            pipe.srem(f"{key}:repos", *change.removed)
        if change.status == "deleted":
            pipe.delete(f"{key}:repos")
        pipe.execute()

    def get(self, installation_id: int) -> dict[str, Any] | None:
        key = keys.installation(installation_id)
        raw = self.redis.hgetall(key)
        if not raw:
            return None
        record: dict[str, Any] = {k.decode(): v.decode() for k, v in raw.items()}
        record["repositories"] = sorted(r.decode() for r in self.redis.smembers(f"{key}:repos"))
        return record
