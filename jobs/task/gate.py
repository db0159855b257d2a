"""The gate every request passes: a person (not a bot) with write access to the repository."""

from __future__ import annotations

from github import Github

from core.errors import NotAllowed
from core.triggers import Trigger
from jobs.context import reply
from jobs.github import report

# collaborators/{user}/permission answers admin, write, read or none (maintain counts
# as write, triage as read): https://docs.github.com/en/rest/collaborators/collaborators
ALLOWED_PERMISSIONS = ("admin", "write")


def require_write(t: Trigger, client: Github, quiet: bool = False) -> str:
    """The requester's permission if it is write or admin; otherwise reply and NotAllowed.

    Asked of GitHub each time, never taken from the payload's `author_association`, so a
    permission revoked after the trigger stops the run. `quiet` skips the reply.
    """
    if t.requester.endswith("[bot]"):
        raise NotAllowed("bots do not start runs")
    permission = client.get_repo(t.repository).get_collaborator_permission(t.requester)
    if permission not in ALLOWED_PERMISSIONS:
        if not quiet:
            reply(client, t, report.rejected(t.requester, permission))
        raise NotAllowed(f"{t.requester} has {permission} access")
    return permission
