"""A fleet of runs at once: 1, 10 and 50 concurrent label-to-PR runs of 20 turns each, with
1 s of model latency per turn, on this machine.

Everything is real but GitHub and the model: signed `issues.labeled` deliveries through the
webhook view, one Redis, `orca worker` processes as `orca up` starts them (RQ, a forked
work-horse per job; one `--queues runs` worker per concurrent run, ORCA_MAX_RUNS, and two
`--queues fast` for acknowledgements), git against the fake GitHub over smart
HTTP, and each turn's bash command in the bubblewrap sandbox. The fake model answers every run
from its own conversation (`FakeModel.respond_with`): a cheap command per turn
(`echo turn N >> notes.txt`), then "done", then the summary after Orca's diff review, so a run
of T turns makes T model requests. Every run must end `done` with a pull request whose branch
holds T - 2 lines of notes, or the bench fails.

Makespan: from the first delivery to the last run's `finished_at`. Memory: PSS of each worker's
process tree (worker, work-horse, git, sandbox) summed, sampled while the runs go on
(bench/_fleet_procs.py). Targets: 50 runs in at most 1.5 × one run's makespan; peak PSS under
150 MB per run.

    .venv/bin/python bench/fleet.py [--levels 1,10,50] [--turns 20] [--latency 1] [--repos 5]
    .venv/bin/python bench/fleet.py --levels 10 --attempts 3   # the attempts level
        [--ack-workers N] [--unchecked-fake]
"""

from __future__ import annotations

import argparse
import math
import os
import re
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rq.exceptions import NoSuchJobError
from rq.job import Job

from app.up import fast_workers
from bench._fleet_procs import (
    MB,
    ORCA_WORKER,
    Peaks,
    Pool,
    Sampler,
    cpu_seconds,
    machine_busy,
    worker_pool,
)
from bench._fleet_scene import check, conversation, deliver, make_issues
from bench._servers import machine
from bench._world import World, orca_world
from core.runs import RunStore
from tests.fakes import openapi

FINAL = ("done", "failed", "rejected", "cancelled")
TARGET_RATIO, TARGET_PSS_MB = 1.5, 150
PHASES = ("to ack worker", "acknowledge", "to run worker", "to workspace", "to 1st answer",
          "per turn", "publish", "whole run")
"""A run's time: queued until a fast worker takes its acknowledgement (RQ's started_at), the
acknowledgement, until a run worker starts it, mirror + worktree, the first model answer (one
latency), each further turn, the last answer to `finished_at`, and all of it."""


# -- one level ---------------------------------------------------------------------------------

@dataclass
class Level:
    """One concurrency level's figures."""

    runs: int
    makespan: float
    peaks: Peaks
    idle_pss: int
    """PSS of the whole pool, idle, just before the first delivery."""
    workers: int
    startup: float
    """Seconds from spawning the workers until all had registered with RQ."""
    cpu: dict[str, float]
    phases: dict[str, list[float]]
    eyes: list[float]
    """Per run, seconds from its delivery to the 👀 reaching GitHub (the fake's arrival time)."""


def settings_for(level: int, turns: int, attempts: int = 1) -> dict[str, str]:
    """Room for `level` runs at once in one installation and overall, pacing off."""
    return {"ORCA_MAX_RUNS": str(level), "ORCA_MAX_RUNS_PER_INSTALLATION": str(level),
            "ORCA_MAX_ATTEMPTS": str(max(attempts, 1)),
            "ORCA_MAX_TURNS": str(turns + 10), "ORCA_GITHUB_PACING": "false",
            "ORCA_GITHUB_WRITE_INTERVAL": "0", "ORCA_COMMAND_TIMEOUT": "60"}


def run_level(level: int, args: argparse.Namespace) -> Level:
    if args.unchecked_fake:
        # The fake validates every REST request and answer against GitHub's OpenAPI description
        # (after answering, in a process of its own): work real GitHub does not add.
        openapi.request_violations = openapi.response_violations = lambda *_args: []
    else:
        openapi.start_checking()  # its start-up (~2 s of CPU) is not the level's
    with orca_world(settings=settings_for(level, args.turns, args.attempts)) as world:
        world.model.respond_with(conversation(args.turns, args.latency))
        issues = make_issues(world, level, args.repos, args.attempts)
        spawned = time.monotonic()
        commands = worker_commands(level, args)
        with worker_pool(commands, world.data_dir.parent / "logs") as pool:
            pool.wait_registered(world.redis, _ack_workers(level, args) + level)
            startup = time.monotonic() - spawned
            idle = Sampler(pool.pids, 0)
            idle.sample()
            before = _cpu_now(world, pool.pids)
            sampler = Sampler(pool.pids, args.interval).start()
            started, run_ids = time.time(), []
            delivered = {}
            for issue in issues:
                delivered[issue.number, issue.full_name] = time.time()
                run_ids.append(deliver(world, issue))
            records = wait_finished(world, pool, run_ids, args.timeout)
            peaks = sampler.stop()
            time.sleep(0.5)  # let the last work-horses be reaped, so their CPU is counted
            cpu = {k: v - before[k] for k, v in _cpu_now(world, pool.pids).items()}
            failure = check(world, issues, records, args.turns)
            if failure:
                raise SystemExit(f"{level} runs: {failure}\n{pool.tail()}")
        store = RunStore(world.redis)
        phases = _phases([(records[r], store.events(r)) for r in run_ids])
        eyes = _eyes(world, delivered)
    makespan = max(float(r["finished_at"]) for r in records.values()) - started
    return Level(level, makespan, peaks, idle.peaks.total_pss, _ack_workers(level, args) + level,
                 startup, cpu, phases, eyes)


def worker_commands(level: int, args: argparse.Namespace) -> list[list[str]]:
    """What `orca up` starts with ORCA_MAX_RUNS=level: one process forking the acknowledgement
    workers, and the run workers."""
    fast = [*ORCA_WORKER, "--queues", "fast", "--count", str(_ack_workers(level, args))]
    return [fast] + [[*ORCA_WORKER, "--queues", "runs"]] * level


def _ack_workers(level: int, args: argparse.Namespace) -> int:
    return args.ack_workers or fast_workers(level)


def wait_finished(world: World, pool: Pool, run_ids: list[str], timeout: float) -> dict[str, dict]:
    """Every run's record once all have ended; fails if one takes past `timeout` seconds."""
    store, deadline = RunStore(world.redis), time.monotonic() + timeout
    records: dict[str, dict] = {}
    while len(records) < len(run_ids):
        for run_id in run_ids:
            record = store.get(run_id) if run_id not in records else None
            if record and record.get("status") in FINAL:
                records[run_id] = {**record, "ack_started": _started(world, f"ack-{run_id}")}
        if dead := [p.pid for p in pool.processes if p.poll() is not None]:
            raise SystemExit(f"worker processes {dead} died:\n{pool.tail()}")
        if time.monotonic() > deadline:
            stuck = {r: (store.get(r) or {}).get("status") for r in run_ids if r not in records}
            raise SystemExit(f"{len(stuck)} runs unfinished after {timeout:.0f} s: {stuck}\n"
                             f"{pool.tail()}")
        time.sleep(0.5)  # the figures come from the records, not from when the poll saw them
    return records


def _cpu_now(world: World, workers: list[int]) -> dict[str, float]:
    """CPU seconds so far: worker trees, this process with its children (the fakes, their
    git http-backend, the fake GitHub's checking process, the memory sampling), Redis, and the
    machine as a whole."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    info = world.redis.info("cpu")
    busy, total = machine_busy()
    return {"workers": sum(cpu_seconds(pid) for pid in workers),
            "fakes": own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
            + sum(cpu_seconds(pid) for pid in openapi.checking_pids()),
            "redis": info["used_cpu_user"] + info["used_cpu_sys"],
            "machine busy": busy, "machine total": total}


def _phases(runs: list[tuple[dict, list[dict]]]) -> dict[str, list[float]]:
    """Per run, where the time went, from the run record (with when its acknowledgement job
    started) and its events."""
    out: dict[str, list[float]] = {name: [] for name in PHASES}
    for record, events in runs:
        ack_started = record["ack_started"]
        first = {}
        for event in events:
            first.setdefault(event["kind"], event["at"])
        answers = [e["at"] for e in events if e["kind"] == "model"]
        created, begun = float(record["created_at"]), float(record["started_at"])
        finished, acknowledged = float(record["finished_at"]), first["acknowledged"]
        for name, value in zip(PHASES, (
                ack_started - created, acknowledged - ack_started, begun - acknowledged,
                first["workspace"] - begun, answers[0] - first["workspace"],
                (answers[-1] - answers[0]) / max(1, len(answers) - 1),
                finished - answers[-1], finished - created)):
            out[name].append(value)
    return out


def _eyes(world: World, delivered: dict[tuple[int, str], float]) -> list[float]:
    """Seconds from each delivery to its issue's first 👀, as the fake GitHub received it."""
    first: dict[tuple[int, str], float] = {}
    for call in world.github.calls_to("POST", r"/issues/\d+/reactions$"):
        match = re.search(r"/repos/([^/]+/[^/]+)/issues/(\d+)/reactions$", call.path)
        if match and call.status in (200, 201):
            first.setdefault((int(match[2]), match[1]), call.at)
    return [first.get(key, math.nan) - at for key, at in delivered.items()]


def _started(world: World, job_id: str) -> float:
    """When a worker took the job (RQ's started_at, stored in UTC, maybe without saying so);
    NaN once RQ has dropped the finished job (after its result_ttl, 500 s)."""
    try:
        started = Job.fetch(job_id, connection=world.redis).started_at
    except NoSuchJobError:
        return math.nan
    if started is None:
        return math.nan
    return (started if started.tzinfo else started.replace(tzinfo=UTC)).timestamp()


# -- report ------------------------------------------------------------------------------------

def report(levels: list[Level], args: argparse.Namespace) -> bool:
    """Print the figures; True if the largest level meets both targets."""
    print(f"machine: {machine()}")
    acks = ", ".join(f"{_ack_workers(lv.runs, args)} at {lv.runs}" for lv in levels)
    if args.unchecked_fake:
        print("the fake GitHub's OpenAPI checks were off (--unchecked-fake)")
    if args.attempts > 1:
        print(f"each run is one request with {args.attempts} attempts side by side "
              "(`attempts:` in .github/orca.yml): 'runs' counts requests, and a run's PSS and CPU "
              "are its attempts' together")
    print(f"{args.turns} turns per run, {args.latency:g} s model latency per turn, runs over up "
          f"to {args.repos} repositories (one installation each), acknowledgement workers: "
          f"{acks}")
    base = next(lv.makespan for lv in levels if lv.runs == 1)
    print("runs  workers  makespan s  ×1 run  peak PSS/run MB  peak RSS/worker MB  "
          "idle PSS/worker MB  procs  CPU busy (others)  CPU s/run: workers fakes redis")
    for lv in levels:
        print(_level_line(lv, base))
    print("where a run's time went, median/max seconds:")
    print("runs  " + "  ".join(f"{name:>13}" for name in PHASES))
    for lv in levels:
        cells = [_median_max([x for x in v if not math.isnan(x)]) for v in lv.phases.values()]
        print(f"{lv.runs:>4}  " + "  ".join(f"{cell:>13}" for cell in cells))
    print("delivery → 👀 seconds:  p50    p95    max")
    for lv in levels:
        print(f"{lv.runs:>4} runs           " + _percentiles(lv.eyes))
    starts = ", ".join(f"{lv.workers}: {lv.startup:.1f} s" for lv in levels)
    sampling = ", ".join(f"{lv.peaks.samples} samples, {lv.peaks.cpu:.1f} s CPU" for lv in levels)
    print(f"worker start-up (spawn → all registered, outside the makespan): {starts}")
    print(f"memory sampling (in the fakes' CPU figure): {sampling}")
    top = levels[-1]
    ratio, per_run = top.makespan / base, top.peaks.total_pss / top.runs / MB
    print(f"targets at {top.runs} runs: makespan {ratio:.2f} × one run (≤ {TARGET_RATIO}) "
          f"{_verdict(ratio <= TARGET_RATIO)}; peak PSS {per_run:.0f} MB per run "
          f"(< {TARGET_PSS_MB}) {_verdict(per_run < TARGET_PSS_MB)}")
    print(_window(top, base))
    return ratio <= TARGET_RATIO and per_run < TARGET_PSS_MB


def _window(top: Level, base: float) -> str:
    """What the makespan target leaves the machine against what the level used: the CPU-s of
    all cores in TARGET_RATIO × one run's makespan, and what Orca (its workers and Redis), the
    fakes and the machine's other work used while the level ran. When the three together need
    more than the window holds, no scheduling of Orca's could have met the target here."""
    cores = os.cpu_count() or 1
    window = TARGET_RATIO * base * cores
    c = top.cpu
    orca, fakes = c["workers"] + c["redis"], c["fakes"]
    other = max(0.0, c["machine busy"] - orca - fakes)
    needed = orca + fakes + other
    return (f"CPU against the {TARGET_RATIO} × window at {top.runs} runs: {TARGET_RATIO * base:.1f} s "
            f"× {cores} cores = {window:.0f} CPU-s; used: Orca {orca:.0f}, the fakes {fakes:.0f}, "
            f"other work on the machine {other:.0f} = {needed:.0f} CPU-s "
            f"({needed / window:.0%} of the window; Orca alone {orca / window:.0%})")


def _level_line(lv: Level, base: float) -> str:
    c = lv.cpu
    busy = c["machine busy"] / c["machine total"]
    # What the machine spent on work other than this bench's: it skews the figures.
    others = max(0.0, c["machine busy"] - c["workers"] - c["fakes"] - c["redis"]) / c["machine total"]
    return (f"{lv.runs:>4}  {lv.workers:>7}  {lv.makespan:>10.1f}  {lv.makespan / base:>6.2f}  "
            f"{lv.peaks.total_pss / lv.runs / MB:>15.0f}  {lv.peaks.tree_rss / MB:>18.0f}  "
            f"{lv.idle_pss / lv.workers / MB:>18.0f}  {lv.peaks.processes:>5}  "
            f"{busy:>8.0%} ({others:>4.0%})  {c['workers'] / lv.runs:>17.2f} "
            f"{c['fakes'] / lv.runs:>5.2f} {c['redis'] / lv.runs:>5.2f}")


def _percentiles(values: list[float]) -> str:
    """p50, p95 and max; a missing 👀 (NaN) counts as worst."""
    ordered = sorted(math.inf if math.isnan(v) else v for v in values)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return f"{statistics.median(ordered):5.2f}  {p95:5.2f}  {ordered[-1]:5.2f}"


def _median_max(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}/{max(values):.2f}" if values else "-"


def _verdict(met: bool) -> str:
    return "met" if met else "NOT MET"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,10,50",
                        help="concurrency levels, comma-separated (1 is added: it is the baseline)")
    parser.add_argument("--turns", type=int, default=20, help="model requests per run (>= 3)")
    parser.add_argument("--latency", type=float, default=1.0, help="fake model seconds per turn")
    parser.add_argument("--repos", type=int, default=5, help="repositories to spread runs over")
    parser.add_argument("--interval", type=float, default=0.5, help="memory sampling seconds")
    parser.add_argument("--ack-workers", type=int, default=0,
                        help="`--queues fast` workers (default: as many as `orca up` starts)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds a level may take")
    parser.add_argument("--attempts", type=int, default=1,
                        help="attempts per request (the attempts level: --levels 10 --attempts 3)")
    parser.add_argument("--unchecked-fake", action="store_true",
                        help="skip the fake GitHub's OpenAPI check of every call (see README)")
    args = parser.parse_args()
    if args.turns < 3:
        parser.error("--turns must be at least 3 (a command, done, the summary)")
    levels = sorted({1, *(int(n) for n in args.levels.split(","))})
    results = []
    for level in levels:
        results.append(run_level(level, args))
        print(f"  {level} runs: makespan {results[-1].makespan:.1f} s", flush=True)
    return 0 if report(results, args) else 1


if __name__ == "__main__":
    sys.exit(main())
