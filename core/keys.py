"""Every Redis key and RQ job id Orca spells, in one place.

Both tiers write and read these, so a key's layout is defined once: a rename here is a rename
everywhere, and a reader can see at a glance what Orca keeps in Redis. Lifetimes stay with the
code that writes each key, where the reason for them is.
"""

from __future__ import annotations

# -- runs (core.runs) -------------------------------------------------------------------------
RUNS = "orca:runs"
"""Sorted set of every kept run id, by creation time."""


def run(run_id: str) -> str:
    """Hash: the run record."""
    return f"orca:run:{run_id}"


def run_events(run_id: str) -> str:
    """Stream: the run's transcript."""
    return f"orca:run:{run_id}:events"


def run_lease(run_id: str) -> str:
    """String: which process holds the run (jobs.run.lease)."""
    return f"orca:run:{run_id}:lease"


def comment_lock(run_id: str) -> str:
    """Lock around edits of the run's tracking comment (jobs.context)."""
    return f"orca:run:{run_id}:comment-lock"


def target(name: str) -> str:
    """Sorted set of the runs on one issue or PR (`owner/repo#n`), by creation time."""
    return f"orca:target:{name}"


def rounds(name: str) -> str:
    """Counter of review rounds on a pull request."""
    return f"orca:rounds:{name}"


def pushed(repository: str, sha: str) -> str:
    """String: the run that pushed this commit (CI on it is Orca's to fix)."""
    return f"orca:pushed:{repository}:{sha}"


def ci_round(repository: str, sha: str) -> str:
    """A commit's claim on its one CI round."""
    return f"orca:ci-round:{repository}:{sha}"


def ci_rerun(repository: str, sha: str) -> str:
    """A commit's claim on its one re-run of failing Actions jobs, and what was re-run."""
    return f"orca:ci-rerun:{repository}:{sha}"


def pull_outcome(repository: str, number: int) -> str:
    """Hash: a pull request Orca opened, the run that opened it and how it ended
    (core.outcomes)."""
    return f"orca:pull-outcome:{repository}#{number}"


# -- plans and fleets (core.plans) ---------------------------------------------------------------

def plan(name: str) -> str:
    """String (JSON): the plan Orca recorded for an issue (`owner/repo#n`)."""
    return f"orca:plan:{name}"


def fleet(name: str) -> str:
    """String (JSON): a parent issue's sub-issues, their runs and its checklist comment."""
    return f"orca:fleet:{name}"


def fleet_parent(name: str) -> str:
    """String: the parent issue of a sub-issue Orca opened (or of its pull request)."""
    return f"orca:fleet-parent:{name}"


def fleet_lock(name: str) -> str:
    """Lock around starting a fleet's children and editing its checklist."""
    return f"orca:fleet:{name}:lock"


def ci_permissions(installation_id: int | str) -> str:
    """Whether an installation has been told what CI's permissions would add ("said"), or
    has them ("granted")."""
    return f"orca:ci-permissions:{installation_id}"


def ci_rounds(name: str) -> str:
    """Counter of CI rounds on a pull request (`owner/repo#n`)."""
    return f"orca:ci-rounds:{name}"


# -- automatic reviews (jobs.steer.auto_review) -----------------------------------------------
def auto_review(name: str, sha: str) -> str:
    """A pull request's (`owner/repo#n`) head commit's claim on its one automatic review."""
    return f"orca:auto-review:{name}:{sha}"


def auto_reviews_hour(name: str, hour: int) -> str:
    """Counter of automatic reviews of a pull request started in one hour (Unix hours)."""
    return f"orca:auto-reviews:{name}:{hour}"


# -- deliveries (core.queues, jobs.steer.redeliver) ---------------------------------------------------
def delivery(guid: str) -> str:
    """A delivery id's claim: what it started."""
    return f"orca:delivery:{guid}"


def body(digest: str) -> str:
    """A signed body's claim (its SHA-256): replays under a new id start nothing."""
    return f"orca:body:{digest}"


def redelivery(guid: str) -> str:
    """A failed delivery Orca has asked GitHub to send again."""
    return f"orca:redelivery:{guid}"


REDELIVER_SCHEDULED = "orca:redeliver:scheduled"
"""Flag: the next redelivery sweep is queued."""

# -- installations, identity, pacing ----------------------------------------------------------
INSTALLATIONS = "orca:installations"
"""Set of known installation ids."""


def installation(installation_id: int | str) -> str:
    """Hash: what Orca knows of one installation."""
    return f"orca:installation:{installation_id}"


APP_IDENTITY = "orca:app:identity"
"""The App's bot login and email, cached."""


def pace(installation_id: int | str) -> str:
    """The installation's next free slot for a GitHub write (jobs.github.pacing)."""
    return f"orca:pace:{installation_id}"


# -- spending (jobs.run.spending) ---------------------------------------------------------------
def spend(installation_id: int | str, day: str) -> str:
    """Hash: one installation's spending on one UTC day."""
    return f"orca:spend:{installation_id}:{day}"


def spenders(day: str) -> str:
    """Set of the installations that spent anything on one UTC day."""
    return f"orca:spend:{day}"


# -- places in line, viewers, metrics ----------------------------------------------------------
PLACES_PENDING = "orca:places:pending"
"""Flag: a refresh of places in line is queued (jobs.steer.place_comments)."""


def viewer(session_key: str) -> str:
    """A signed-in viewer's readable repositories (app.viewer)."""
    return f"orca:viewer:{session_key}"


METRICS_RUNS = "orca:metrics:runs"
METRICS_COUNTED = "orca:metrics:counted"
METRICS_GITHUB = "orca:metrics:github"
METRICS_WEBHOOKS = "orca:metrics:webhooks"


# -- RQ job ids --------------------------------------------------------------------------------
def ack_job(run_id: str) -> str:
    """The run's acknowledgement on the fast queue."""
    return f"ack-{run_id}"


def held_ack_job(run_id: str) -> str:
    """The run's acknowledgement queued again for when its write slots are due."""
    return f"ack-{run_id}-held"


def run_job(run_id: str) -> str:
    """The run itself on the runs queue."""
    return f"run-{run_id}"


def cancelled_job(run_id: str) -> str:
    """The report of a run stopped while queued."""
    return f"cancelled-{run_id}"


def control_job(kind: str, unique: str) -> str:
    """A stop, retry, help or cancel on the fast queue."""
    return f"{kind}-{unique}"


def installation_job(delivery_id: str) -> str:
    """The recording of one installation change."""
    return f"installation-{delivery_id}"


def installation_claim(installation_id: int, unique: str) -> str:
    """What an installation delivery's claim says it started."""
    return f"installation:{installation_id}:{unique}"


SLOTS_PREFIX = "orca-installation-"


def slots(installation_id: int) -> str:
    """The RQ rate limit that holds one installation to its cap of runs (core.queues)."""
    return f"{SLOTS_PREFIX}{installation_id}"


def run_of_job(job_id: str) -> str | None:
    """The run id of a run job's id, or None for any other job."""
    return job_id[len("run-"):] if job_id.startswith("run-") else None
