"""The `orca` command: `orca up` runs it all; `orca web` serves webhooks; `orca worker` runs
jobs; `orca setup` registers the App; `orca solve` runs the agent on a local checkout;
`orca doctor` says what the workers' sandbox can run."""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from core.queues import ENTRY_POINTS
from core.settings import Settings, SettingsError, load_agent_settings, load_settings

if TYPE_CHECKING:
    from jobs.local import LocalOutcome

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Loggers whose INFO lines (one per HTTP request) `orca solve` leaves out.
QUIET_IN_SOLVE = ("httpx", "httpx2", "httpcore", "httpcore2")
# What the worker's jobs import: the module of every function core.queues puts on a queue.
WORKER_PRELOAD = tuple(sorted({name.rsplit(".", 1)[0] for name in ENTRY_POINTS}))
# How much lower a run worker's CPU priority is (`nice`) than the fast queue's: a burst of runs
# starting (git, the agent's loop) leaves the CPU to acknowledgements first, so a 👀 keeps its
# second (bench/fleet.py). The agent's commands go lower still (Limits.niceness).
RUN_NICENESS = 5


def _web(settings: Settings, args: argparse.Namespace) -> int:
    from gunicorn.app.base import BaseApplication

    from app import create_app
    from app.mission.stream import end_streams_on_signals, streams_for

    class Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{args.host}:{args.port}")
            self.cfg.set("workers", args.workers)
            # Threads let one process take many deliveries while one waits on Redis.
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", args.threads)
            self.cfg.set("accesslog", "-")
            self.cfg.set("post_worker_init", lambda worker: end_streams_on_signals(worker.wsgi))

        def load(self):
            # Open run pages may hold all but two of each process's threads (app.mission.stream).
            return create_app(settings.model_copy(update={
                "max_streams": streams_for(args.threads, settings.max_streams)}))

    Server().run()
    return 0


def worker_class(listening: str) -> type:
    """The RQ worker class for `orca worker --queues listening`.

    Fast-queue jobs (acknowledgements, steering) are a handful of API calls each: run in the
    worker itself (RQ's SimpleWorker) they skip forking a ~100 MB work-horse per job, which
    under a burst of fifty runs was most of a 👀's wait for the CPU (bench/fleet.py). A job
    that hangs still meets its timeout (SIGALRM in the worker); a worker that dies is
    replaced by the pool. Runs keep a work-horse each: a run's crash or leak stays its own.
    """
    from core.queues import FastWorker, RunWorker

    return FastWorker if listening == "fast" else RunWorker


def preload(listening: str) -> None:
    """Import, once, what this worker's jobs need.

    RQ forks a work-horse for every run. Imported here, the jobs' modules (anthropic, PyGithub,
    the run) are loaded in every horse already; otherwise each acknowledgement and each run
    imports them afresh, 1-1.5 s of CPU per job (bench/fleet.py). A run also builds the model's
    client, whose HTTP stack (the SDK's transport, h11, the TLS trust store: some 120 modules,
    ~0.1 s of CPU) is imported only when a first client is built: one is built and closed here,
    over the TLS context every client of the process then shares (~20 ms each otherwise).
    """
    for module in WORKER_PRELOAD:
        importlib.import_module(module)
    if listening != "fast":
        import anthropic

        from jobs.agent.session import tls_context

        anthropic.Anthropic(api_key="unused: built only to import its transport",
                            http_client=anthropic.DefaultHttpxClient(verify=tls_context())).close()


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from rq.worker_pool import WorkerPool

    from core.connection import connect
    from core.queues import queues, schedule_sweep

    preload(args.queues)
    # Out of the collector's sight, those objects' pages stay shared with every forked process
    # instead of being copied when a collection touches them.
    gc.freeze()
    if args.queues == "runs":
        _lower_priority(RUN_NICENESS)
    if args.queues == "fast":
        # Its jobs run in this process (SimpleWorker), one after another: a token minted for
        # one acknowledgement serves the next on the same repository for a few minutes.
        from jobs.github import REUSED_TOKENS

        REUSED_TOKENS.enabled = True
    connection = connect(settings.redis_url)
    if not args.burst:
        schedule_sweep(connection, 0)  # look for missed deliveries now, then every 5 minutes
    fast, runs = queues(connection)
    listening = {"fast": [fast], "runs": [runs], "all": [fast, runs]}[args.queues]
    if args.count > 1:
        # Workers forked from this process share its imported modules (~90 MB) instead of
        # each holding its own; RQ's pool starts a new one if one dies.
        pool = WorkerPool(listening, connection=connection, num_workers=args.count,
                          worker_class=worker_class(args.queues))
        pool.start(burst=args.burst, logging_level="INFO")
        return 0
    worker = worker_class(args.queues)(listening, connection=connection)
    # The scheduler moves the periodic redelivery sweep onto the queue when it is due.
    worker.work(burst=args.burst, logging_level="INFO", with_scheduler=not args.burst)
    return 0


def _lower_priority(niceness: int) -> None:
    """Nice this process by `niceness`. Where the kernel groups each session's processes for
    the CPU (autogroup) and this process leads its own session, as `orca up` starts workers,
    a nice value counts only within the group: the group's niceness is lowered too."""
    os.nice(niceness)
    if os.getsid(0) != os.getpid():
        return
    for _ in range(20):  # the kernel takes ten such changes a second machine-wide
        try:
            Path("/proc/self/autogroup").write_text(str(niceness))
            return
        except BlockingIOError:
            time.sleep(0.1)
        except OSError:  # no autogroup here
            return


def _up(args: argparse.Namespace) -> int:
    """Run everything; with no App configured yet, serve the setup page first."""
    from app.up import up

    try:
        settings = _checked_settings()
    except SettingsError as exc:
        print(f"orca up: no GitHub App is configured yet ({exc}); serving the setup page "
              "instead", flush=True)
        setup_args = argparse.Namespace(org=None, host=args.host, port=args.port,
                                        webhook_url=None, manifest=None)
        if _setup(setup_args) != 0:
            return 2
        try:
            settings = _checked_settings()
        except SettingsError as again:
            print(f"orca: {again}", file=sys.stderr)
            return 2
    return up(settings, args.host, args.port, args.workers)


def _setup(args: argparse.Namespace) -> int:
    from app.setup.server import run

    return run(args)


def _add_setup(commands: argparse._SubParsersAction) -> None:
    setup = commands.add_parser("setup", help="register Orca as a GitHub App from a local page "
                                "and write .env (needs no settings)")
    setup.add_argument("--org", help="register it for this organisation (default: your account)")
    _add_address(setup, "the setup page", port=3000)
    setup.add_argument("--webhook-url", help="Orca's public webhook URL, e.g. "
                       "https://orca.example.org/webhooks (editable on the page)")
    setup.add_argument("--manifest", type=Path, help="the App manifest (default: manifest.yml)")
    # Setup is how the settings come to exist, so main() must not demand them first.
    setup.set_defaults(handler=_setup, needs_settings=False)


def _solve(args: argparse.Namespace) -> int:
    """`orca solve`: the agent on a local checkout; needs only the model key, no GitHub App."""
    from core.errors import RunError
    from jobs.local import solve_locally
    from jobs.local_words import Transcript

    # The model client's HTTP library logs a line per request: noise between the progress
    # lines. It is httpx, or its fork httpx2 where the anthropic SDK is built on that.
    for name in QUIET_IN_SOLVE:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        transcript = Transcript(args.transcript) if args.transcript else None
    except OSError as exc:
        print(f"orca: cannot write the transcript {args.transcript}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        settings = load_agent_settings()
        if not settings.anthropic_api_key:
            raise SettingsError("ANTHROPIC_API_KEY is not set")
        if not 1 <= args.attempts <= settings.max_attempts:
            raise SettingsError(f"--attempts must be 1 to {settings.max_attempts} "
                                "(ORCA_MAX_ATTEMPTS)")
        with transcript or contextlib.nullcontext():
            outcome = solve_locally(settings, args.path, args.request, verify=args.verify,
                                    attempts=args.attempts, transcript=transcript)
    except (SettingsError, RunError) as exc:
        print(f"orca: {exc}", file=sys.stderr)
        return 1
    _said(outcome)
    return 0


def _said(outcome: LocalOutcome) -> None:
    """What `orca solve` prints when it is done: the attempts, the summary, where the work is."""
    from jobs.local import attempt_line

    result = outcome.session.agent
    for attempt in outcome.attempts:
        print(attempt_line(attempt))
    if outcome.attempts:
        print(f"Picked {outcome.branch}. {outcome.how}\n")
    print(result.summary or "(the agent gave no summary)")
    if result.stopped_by:
        print(f"\nStopped by {result.stopped_by}; the work so far is committed.")
    if outcome.dropped:
        print(f"\nDropped changes to protected paths: {', '.join(outcome.dropped)}")
    if outcome.nested:
        print(f"\nLeft out folders holding a git repository of their own: {', '.join(outcome.nested)}")
    if outcome.session.verification:
        print(f"\n{outcome.session.verification}")
    where = f"commit {outcome.commit[:12]}" if outcome.commit else "no changes"
    cost = f"${result.cost:.2f}" if result.cost is not None else "cost unknown"
    print(f"\nBranch: {outcome.branch} ({where}) · {result.turns} turns · {cost}")


def _add_solve(commands: argparse._SubParsersAction) -> None:
    solve = commands.add_parser("solve", help="run the agent on a local git checkout; the work "
                                "lands on a new branch agent/local-<slug> (needs ANTHROPIC_API_KEY only)")
    solve.add_argument("path", type=Path, help="a git checkout; the branch starts at its HEAD")
    solve.add_argument("request", help="what to do, in words")
    solve.add_argument("--attempts", type=int, default=1, metavar="N",
                       help="N verified attempts side by side, each on a branch of its own; the "
                       "evidence picks one (as `--attempts` on GitHub)")
    solve.add_argument("--verify", action="store_true",
                       help="end as a run on GitHub does: Orca runs the tests at HEAD and on the "
                       "result, and the fresh-context check reads the diff; prints what they found")
    solve.add_argument("--transcript", type=Path, metavar="FILE",
                       help="write the run to FILE as JSON lines: every event (each command with "
                       "its output, each turn with its words and figures), then the outcome")
    solve.set_defaults(handler=_solve, needs_settings=False)


def _doctor(args: argparse.Namespace) -> int:
    """`orca doctor`: 0 when the sandbox starts (missing toolchains are only information)."""
    from jobs.doctor import examine, render

    try:
        settings = load_agent_settings()
    except SettingsError as exc:
        print(f"orca: {exc}", file=sys.stderr)
        return 2
    report = examine(settings)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(render(report), file=sys.stdout if report.started else sys.stderr)
    return 0 if report.started else 1


def _add_doctor(commands: argparse._SubParsersAction) -> None:
    doctor = commands.add_parser("doctor", help="start the workers' sandbox as a run would and "
                                 "list the toolchains it can run, with their versions (reads only "
                                 "the ORCA_SANDBOX settings)")
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    doctor.set_defaults(handler=_doctor, needs_settings=False)


def _add_address(command: argparse.ArgumentParser, what: str, port: int = 8000) -> None:
    """--host and --port, saying what listens there and the defaults."""
    command.add_argument("--host", default="127.0.0.1",
                         help=f"the address to listen on for {what} (default: %(default)s; "
                         "0.0.0.0 for every interface)")
    command.add_argument("--port", type=int, default=port,
                         help=f"the port to listen on for {what} (default: %(default)s)")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="orca", description="Orca, a coding-agent GitHub App.")
    commands = top.add_subparsers(dest="command", required=True)
    web = commands.add_parser(
        "web", help="serve webhooks (POST /webhooks), mission control (/runs), /metrics and "
        "/healthz", description="Orca's web tier: GitHub's webhooks (POST /webhooks), mission "
        "control (/runs, signed in with GitHub), Prometheus' /metrics and /healthz. Runs need "
        "a worker too (`orca worker`), or run both with `orca up`.")
    _add_address(web, "webhooks, mission control and /metrics")
    web.add_argument("--workers", type=int, default=2,
                     help="gunicorn worker processes (default: %(default)s)")
    web.add_argument("--threads", type=int, default=8,
                     help="threads per worker process (default: %(default)s)")
    web.set_defaults(handler=_web)
    worker = commands.add_parser("worker", help="run queued jobs (acknowledgements and runs)")
    worker.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    worker.add_argument("--queues", choices=("all", "fast", "runs"), default="all",
                        help="acknowledgements and comment edits (fast), agent runs (runs), or "
                             "both, fast first (default)")
    worker.add_argument("--count", type=int, default=1,
                        help="workers forked from this one process, sharing its memory (default 1)")
    worker.set_defaults(handler=_worker)
    everything = commands.add_parser("up", help="web + workers (+ a local Redis) on this machine")
    _add_address(everything, "the web tier (and the setup page, while no App is configured)")
    everything.add_argument("--workers", type=int, default=None,
                            help="run workers, one run each (default: ORCA_MAX_RUNS)")
    everything.set_defaults(handler=_up, needs_settings=False)
    _add_setup(commands)
    _add_solve(commands)
    _add_doctor(commands)
    return top


def _checked_settings() -> Settings:
    settings = load_settings()
    settings.private_key()
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    if not getattr(args, "needs_settings", True):
        return args.handler(args)
    try:
        settings = _checked_settings()
    except SettingsError as exc:
        print(f"orca: {exc}", file=sys.stderr)
        return 2
    return args.handler(settings, args)


if __name__ == "__main__":
    sys.exit(main())
