"""The tail of the GitHub Actions job behind a check run, as plain text.

No field of a check run names its job. GitHub's own path (FACTS-next): the check run's suite
→ ``GET .../actions/runs?check_suite_id=`` → each run's jobs → the job whose
``check_run_url`` is the check run. Its log is a 302 to an address that "expires after 1
minute" and wants no credentials: it is read at once, streamed, and only its end is kept.
Anything that goes wrong (no ``actions: read``, a log expired or gone) becomes a note that
says why, never an exception.
"""

from __future__ import annotations

import re
import time
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from github.CheckRun import CheckRun
from github.GithubException import GithubException
from github.Repository import Repository
from github.WorkflowJob import WorkflowJob

# Stop reading a log after this much: the end of a longer one is not worth the wait.
MAX_LOG_READ = 128 * 1024 * 1024
CHUNK = 64 * 1024
# Seconds for the whole download (the address itself lives a minute).
LOG_DEADLINE = 45.0

# ANSI colour and cursor sequences (CSI ... final byte, and the two-byte escapes).
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
# The timestamp GitHub Actions puts before every log line: 2024-05-01T12:00:00.1234567Z.
_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?", re.M)
# A carriage return redraws its line (progress bars): keep what was drawn last.
_REDRAWN = re.compile(r"[^\n]*\r(?!\n)")
# What GitHub answers, in words: 410 is what API users report for an expired log.
_WHY = {404: "no such job or log", 410: "the log has expired"}


# The Actions jobs found for each check suite id, so a suite's runs are listed once.
JobsBySuite = dict[int, list[WorkflowJob]]


@dataclass(frozen=True)
class JobLog:
    """What was found of a check run's job log."""

    job_id: int | None = None
    text: str | None = None  # the end of the log, cleaned; None when unavailable
    size: int = 0  # bytes of the whole log as GitHub served it (as far as it was read)
    note: str | None = None  # "log unavailable: why", or why the end shown is not the end


def job_log(repo: Repository, check_run: CheckRun, keep: int,
            jobs: JobsBySuite | None = None) -> JobLog:
    """The last ``keep`` bytes (about) of the log of ``check_run``'s Actions job; ``jobs``
    keeps the jobs found per suite for the next check run of the same suite."""
    try:
        job = find_job(repo, check_run, {} if jobs is None else jobs)
    except GithubException as exc:
        return JobLog(note=f"log unavailable: {describe(exc)}")
    if job is None:
        return JobLog(note="log unavailable: no Actions job names this check run")
    try:
        raw, total, stopped = read_tail(job.logs_url(), keep)
    except GithubException as exc:
        return JobLog(job.id, note=f"log unavailable: {describe(exc)}")
    except KeyError:  # a 302 without its Location
        return JobLog(job.id, note="log unavailable: GitHub gave no address for it")
    except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
        return JobLog(job.id, note=f"log unavailable: the download failed ({exc})")
    note = f"only the first {total} bytes of the log were read" if stopped else None
    return JobLog(job.id, clean(raw), total, note)


def find_job(repo: Repository, check_run: CheckRun, jobs: JobsBySuite) -> WorkflowJob | None:
    """The job whose ``check_run_url`` is ``check_run``, through its suite's workflow runs
    (every attempt's jobs, read once per suite into ``jobs``)."""
    suite_id = check_run.check_suite.id
    if suite_id not in jobs:
        jobs[suite_id] = [job for run in repo.get_workflow_runs(check_suite_id=suite_id)
                          for job in run.jobs("all")]
    ending = f"/check-runs/{check_run.id}"
    return next((j for j in jobs[suite_id] if j.check_run_url.rstrip("/").endswith(ending)),
                None)


def describe(exc: GithubException, permission: str = "actions: read") -> str:
    """GitHub's refusal in words, with its status and message; a 403 names ``permission``,
    the one the installation may lack."""
    message = exc.data.get("message") if isinstance(exc.data, dict) else None
    why = (f"the installation may lack {permission}" if exc.status == 403
           else _WHY.get(exc.status, "GitHub refused"))
    return f"{why} ({exc.status}{': ' + message if message else ''})"


def read_tail(url: str, keep: int, limit: int = MAX_LOG_READ,
              deadline: float = LOG_DEADLINE) -> tuple[bytes, int, bool]:
    """(about the last ``keep`` bytes, bytes read, whether reading stopped at ``limit`` or the
    deadline) of the plain-text log at ``url``, fetched with no credentials."""
    if urlsplit(url).scheme not in ("https", "http"):
        raise ValueError(f"not a web address: {url[:80]}")
    end = time.monotonic() + deadline
    kept, total = bytearray(), 0
    with urllib.request.urlopen(urllib.request.Request(url), timeout=deadline) as answer:
        while chunk := answer.read(CHUNK):
            total += len(chunk)
            kept += chunk
            if len(kept) > 2 * keep + CHUNK:
                del kept[: len(kept) - keep]
            if total >= limit or time.monotonic() > end:
                return _from_a_line(kept, keep, cut=True), total, True
    return _from_a_line(kept, keep, cut=total > keep), total, False


def _from_a_line(kept: bytearray, keep: int, cut: bool) -> bytes:
    """The last ``keep`` bytes; when the log was cut, from the first whole line on."""
    end = bytes(kept[-keep:]) if keep > 0 else b""
    if cut and b"\n" in end:
        end = end[end.index(b"\n") + 1:]
    return end


def clean(raw: bytes) -> str:
    """Log bytes as text: undecodable bytes replaced, GitHub's byte-order mark, line
    timestamps, colour codes and redrawn progress lines taken out."""
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff").replace("\r\n", "\n")
    return _REDRAWN.sub("", _STAMP.sub("", _ANSI.sub("", text)))
