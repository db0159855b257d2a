"""Plans: what `/agent plan` proposes and `/agent go` starts, checked here (pure) and kept in
Redis (PlanStore).

The plan that counts is the one Orca recorded when its planning run ended, changed only by
the lines a writer puts in the `go` comment itself ("drop 3", "2: also update the docs"):
a bot's comment is never read back as an instruction. Sub-tasks keep the numbers the plan
comment showed, so "drop 3" means what the writer read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import redis

from core import keys

# A plan and its fleet are worth keeping while their sub-issues are worked on: 30 days.
PLAN_SECONDS = 30 * 24 * 3600
_DROP = re.compile(r"drop\s+#?(?P<n>\d{1,3})[.!]?", re.IGNORECASE)
_ADD = re.compile(r"#?(?P<n>\d{1,3})\s*:\s*(?P<text>\S.*)")


class PlanRefused(ValueError):
    """The plan cannot be started as it is; the message says why, in the user's words."""


@dataclass(frozen=True)
class Subtask:
    """One sub-task: a sub-issue and its run once a writer says go."""

    number: int
    title: str
    scope: str
    check: str
    """How to check it is done."""
    after: tuple[int, ...] = ()
    """The sub-tasks it waits for (their pull requests opened first)."""


@dataclass(frozen=True)
class Plan:
    """What a planning run proposed, as recorded."""

    approach: str
    files: tuple[str, ...] = ()
    risks: tuple[str, ...] = ()
    questions: tuple[str, ...] = ()
    """Asked before anything starts; a plan that asks proposes no sub-tasks."""
    subtasks: tuple[Subtask, ...] = ()
    run_id: str = ""
    """The planning run that made it."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        tasks = tuple(Subtask(**{**s, "after": tuple(s.get("after", ()))})
                      for s in data.get("subtasks", ()))
        return cls(data["approach"], tuple(data.get("files", ())), tuple(data.get("risks", ())),
                   tuple(data.get("questions", ())), tasks, data.get("run_id", ""))

    def task(self, number: int) -> Subtask | None:
        return next((s for s in self.subtasks if s.number == number), None)


def cycle(subtasks: Sequence[Subtask]) -> list[int] | None:
    """A cycle in "after" as the numbers along it (`[1, 2, 1]`), or None."""
    waits = {s.number: s.after for s in subtasks}
    done: set[int] = set()

    def visit(n: int, path: list[int]) -> list[int] | None:
        if n in path:
            return path[path.index(n):] + [n]
        if n in done or n not in waits:
            return None
        for m in waits[n]:
            if (found := visit(m, [*path, n])) is not None:
                return found
        done.add(n)
        return None

    for s in subtasks:
        if (found := visit(s.number, [])) is not None:
            return found
    return None


def check(plan: Plan, most: int) -> None:
    """PlanRefused unless the plan can be started: at most `most` sub-tasks, none with
    questions, each "after" naming another sub-task, and no cycle."""
    if plan.questions and plan.subtasks:
        raise PlanRefused("a plan that asks questions first proposes no sub-tasks")
    if len(plan.subtasks) > most:
        raise PlanRefused(f"it has {len(plan.subtasks)} sub-tasks, and a plan takes at most "
                          f"{most} (ORCA_MAX_SUBTASKS)")
    numbers = [s.number for s in plan.subtasks]
    if len(set(numbers)) != len(numbers):
        raise PlanRefused("two sub-tasks have the same number")
    for s in plan.subtasks:
        for n in s.after:
            if n == s.number or n not in numbers:
                raise PlanRefused(f"sub-task {s.number} waits for {n}, which is "
                                  f"{'itself' if n == s.number else 'not a sub-task'}")
    if (found := cycle(plan.subtasks)) is not None:
        raise PlanRefused("sub-tasks wait for each other in a cycle: "
                          + " → ".join(str(n) for n in found))


def ready(plan: Plan, opened: set[int], started: set[int]) -> list[int]:
    """The sub-tasks to start now: not started, and every one they wait for has its pull
    request (`opened`)."""
    return [s.number for s in plan.subtasks
            if s.number not in started and set(s.after) <= opened]


@dataclass(frozen=True)
class Edits:
    """What a `go` comment changes: sub-tasks dropped, words added to a sub-task's scope."""

    drop: tuple[int, ...] = ()
    add: tuple[tuple[int, str], ...] = ()
    unread: tuple[str, ...] = ()
    """Lines that are neither: said back, not guessed at."""


def parse_edits(text: str) -> Edits:
    """The edit lines after `/agent go` (one per line)."""
    drop: list[int] = []
    add: list[tuple[int, str]] = []
    unread: list[str] = []
    for line in (raw.strip().lstrip("-*").strip() for raw in text.splitlines()):
        if not line:
            continue
        if found := _DROP.fullmatch(line):
            drop.append(int(found["n"]))
        elif found := _ADD.fullmatch(line):
            add.append((int(found["n"]), found["text"].strip()))
        else:
            unread.append(line)
    return Edits(tuple(drop), tuple(add), tuple(unread))


def apply_edits(plan: Plan, edits: Edits) -> Plan:
    """The plan with the edits made; PlanRefused for an edit naming no sub-task."""
    for n in [*edits.drop, *(n for n, _ in edits.add)]:
        if plan.task(n) is None:
            raise PlanRefused(f"the `go` comment names sub-task {n}, and the plan has no such "
                              "sub-task")
    kept = []
    for s in plan.subtasks:
        if s.number in edits.drop:
            continue
        extra = [text for n, text in edits.add if n == s.number]
        scope = "\n\n".join([s.scope, *extra])
        kept.append(replace(s, scope=scope, after=tuple(n for n in s.after if n not in edits.drop)))
    return replace(plan, subtasks=tuple(kept))


@dataclass
class Child:
    """A sub-task started as a sub-issue."""

    task: int
    issue: int
    linked: bool
    """Linked with GitHub's sub-issues API (False: a plain issue saying "Part of #n")."""
    run_id: str | None = None
    """Its run, once started."""
    pr: int | None = None
    """Its pull request, once a run opened one (what the sub-tasks after it wait for)."""
    merged: bool = False
    closed: bool = False
    """Its pull request was closed (merged or not); read only when the fleet waits for merges."""


@dataclass
class Fleet:
    """A parent issue's sub-issues and what `go` started them with."""

    plan: Plan
    trigger: dict[str, Any]
    """The `go` trigger: its writer is who every child runs for."""
    comment_id: int | None = None
    """The parent's tracking comment: the checklist."""
    children: list[Child] = field(default_factory=list)
    stopped: str | None = None
    """Why no more children start (`/agent stop` on the parent)."""
    wait_for: str = "opened"
    """What a sub-task waits for of the ones before it: their pull requests `opened`, or
    `merged` (`plans: {wait_for: merged}` in the default branch's config at `go`)."""

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "plan": self.plan.to_dict()})

    @classmethod
    def from_json(cls, raw: bytes | str) -> Fleet:
        data = json.loads(raw)
        return cls(Plan.from_dict(data["plan"]), data["trigger"], data.get("comment_id"),
                   [Child(**c) for c in data.get("children", ())], data.get("stopped"),
                   data.get("wait_for", "opened"))

    def child(self, task: int) -> Child | None:
        return next((c for c in self.children if c.task == task), None)


class PlanStore:
    """Plans and fleets in Redis, by their issue's target (`owner/name#n`)."""

    def __init__(self, connection: redis.Redis) -> None:
        self.redis = connection

    def record(self, target: str, plan: Plan) -> None:
        self.redis.set(keys.plan(target), json.dumps(plan.to_dict()), ex=PLAN_SECONDS)

    def plan(self, target: str) -> Plan | None:
        raw = self.redis.get(keys.plan(target))
        return Plan.from_dict(json.loads(raw)) if raw else None

    def save_fleet(self, target: str, fleet: Fleet) -> None:
        pipe = self.redis.pipeline()
        pipe.set(keys.fleet(target), fleet.to_json(), ex=PLAN_SECONDS)
        repository = target.rsplit("#", 1)[0]
        for c in fleet.children:  # a child issue, and its pull request, lead to the parent
            for number in (c.issue, c.pr) if c.pr else (c.issue,):
                pipe.set(keys.fleet_parent(f"{repository}#{number}"), target, ex=PLAN_SECONDS)
        pipe.execute()

    def fleet(self, target: str) -> Fleet | None:
        raw = self.redis.get(keys.fleet(target))
        return Fleet.from_json(raw) if raw else None

    def parent_of(self, target: str) -> str | None:
        raw = self.redis.get(keys.fleet_parent(target))
        return raw.decode() if raw else None

    def lock(self, target: str) -> Any:
        """Held while a fleet's children are started and its checklist edited."""
        return self.redis.lock(keys.fleet_lock(target), timeout=60, blocking_timeout=60)
