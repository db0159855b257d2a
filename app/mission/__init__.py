"""Mission control: the home view, the list of runs, a page per run that follows it live,
and Stop.

Server-rendered (Jinja templates in app/templates); the run page polls
`/runs/<id>/events` every two seconds with a few lines of inline script and appends the
events it has not shown yet, rendered by the same template as the first ones.
"""

from __future__ import annotations

import time
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from app import pages, viewer
from app.mission import data, insights
from app.mission.diff import diff_so_far
from app.mission.home import HomeFilters, read_home
from core import ledger
from core.runs import ACTIVE, STATUSES, RunStore
from core.stops import request_stop

blueprint = Blueprint("mission", __name__)
blueprint.after_request(pages.secure_headers)
blueprint.record_once(lambda state: pages.register(state.app))
blueprint.register_blueprint(insights.blueprint)  # /insights, under the same headers
# The page polls this often while a run is queued or running.
POLL_MILLISECONDS = 2000


def _orca():
    return current_app.extensions["orca"]


def _viewer() -> viewer.Viewer | None:
    return viewer.current(_orca().redis)


def _sign_in_first():
    return redirect(url_for("auth.signin", next=request.full_path.rstrip("?")))


def _not_found():
    return render_template("message.html", message="No such run, or not one you can see."), 404


def _visible_run(run_id: str, who: viewer.Viewer) -> dict[str, Any] | None:
    run = RunStore(_orca().redis).get(run_id)
    return run if run is not None and who.can_see(run) else None


@blueprint.get("/")
def home():
    """A signed-in person's home view (app.mission.home). Anyone else sees that Orca is
    running and how to start: GitHub sends people here after they install the App (the
    manifest's setup_url)."""
    who = _viewer()
    if who is None:
        return render_template("welcome.html", label=_orca().settings.trigger_label)
    connection, filters = _orca().redis, HomeFilters.parse(request.args)
    found = read_home(connection, who, filters)
    queued = [entry.run for entry in found.sections["queued"]]
    return render_template("home.html", home=found, filters=filters, viewer=who, now=time.time(),
                           positions=data.queue_positions(connection, queued),
                           github_url=_orca().settings.github_url, target_url=pages.target_url,
                           elapsed=pages.elapsed)


@blueprint.get("/runs")
def runs():
    who = _viewer()
    if who is None:
        return _sign_in_first()
    connection = _orca().redis
    filters = data.Filters.parse(request.args)
    found, cursor = data.page_of_runs(connection, who.can_see, filters,
                                      request.args.get("before", type=float))
    data.with_live_figures(connection, found)
    now = time.time()
    return render_template("runs.html", runs=found, cursor=cursor, filters=filters,
                           statuses=STATUSES, positions=data.queue_positions(connection, found),
                           viewer=who, now=now, github_url=_orca().settings.github_url,
                           target_url=pages.target_url, elapsed=pages.elapsed,
                           spend=_spend_today(who, now), day=ledger.day_of(now),
                           daily_dollars=_orca().settings.daily_dollars,
                           no_worker=data.no_worker_note(data.unserved_queues(connection)))


def _spend_today(who: viewer.Viewer, now: float) -> list[ledger.DayTotals]:
    """Today's figures of the installations this viewer may see."""
    found = ledger.spent_on(_orca().redis, ledger.day_of(now))
    return [day for day in found if who.can_see_installation(day.repository_ids)]


def _summary(run: dict[str, Any], who: viewer.Viewer) -> dict[str, Any]:
    """What the top of a run's page shows; re-rendered on every poll."""
    connection, run_id = _orca().redis, run["id"]
    budget = data.first_event(connection, run_id, "budget")
    spent = data.latest_spent(connection, run_id) or {}
    if run.get("status") == "running" and budget is not None:
        # The model event's minutes are as old as the last turn; the clock runs on.
        spent = {**spent, "minutes": (time.time() - budget["at"]) / 60}
    return {"run": run, "budget": budget and budget["data"], "spent": spent, "viewer": who,
            "position": data.queue_positions(connection, [run]).get(run_id),
            "can_stop": who.can_stop(run) and run.get("status") in ACTIVE,
            "csrf": viewer.csrf_token(), "elapsed": pages.elapsed(run),
            "target_url": pages.target_url(_orca().settings.github_url, run),
            "fleet": data.fleet_of(connection, run["repository"], run["number"]),
            "cause": (data.failure_cause(connection, run_id)
                      if who.admin and run.get("status") == "failed" else None)}


@blueprint.get("/runs/<run_id>")
def run_page(run_id: str):
    who = _viewer()
    if who is None:
        return _sign_in_first()
    run = _visible_run(run_id, who)
    if run is None:
        return _not_found()
    events, total = data.latest_events(_orca().redis, run_id)
    events = data.for_viewer(events, who.admin)
    return render_template("run.html", events=events, total=total, poll=POLL_MILLISECONDS,
                           last_id=events[-1]["id"] if events else "0", **_summary(run, who))


@blueprint.get("/runs/<run_id>/events")
def run_events(run_id: str):
    """New events after `after` (a stream id) and the re-rendered summary, as JSON."""
    who = _viewer()
    run = _visible_run(run_id, who) if who is not None else None
    if run is None:
        return jsonify(error="not signed in, or no such run"), 404
    events = data.for_viewer(
        data.events_after(_orca().redis, run_id, request.args.get("after", "0")), who.admin)
    rendered = [{"id": e["id"], "html": render_template("_event.html", event=e)} for e in events]
    return jsonify(events=rendered, last=events[-1]["id"] if events else request.args.get("after"),
                   active=run.get("status") in ACTIVE,
                   summary=render_template("_summary.html", **_summary(run, who)))


@blueprint.get("/runs/<run_id>/diff")
def run_diff(run_id: str):
    who = _viewer()
    run = _visible_run(run_id, who) if who is not None else None
    if run is None:
        return _not_found()
    workspace = data.first_event(_orca().redis, run_id, "workspace") or {"data": {}}
    text = diff_so_far(_orca().settings.data_dir, run_id, str(run.get("repository", "")),
                       workspace["data"].get("base_sha"))
    if text is None:
        text = "No worktree for this run on this machine (it has ended, or runs elsewhere).\n"
    return current_app.response_class(text, mimetype="text/plain")


@blueprint.post("/runs/<run_id>/stop")
def stop(run_id: str):
    """The Stop button: CSRF-checked, for people with write access (or operators)."""
    who = _viewer()
    if who is None:
        return _sign_in_first()
    if not viewer.csrf_ok(request.form.get("csrf_token")):
        return render_template("message.html", message="The form was stale; reload the page "
                               "and press Stop again."), 400
    run = _visible_run(run_id, who)
    if run is None:
        return _not_found()
    if not who.can_stop(run):
        return render_template("message.html", message="Stopping a run needs write access to "
                               "its repository."), 403
    # An operator has no GitHub login to mention in the comment; a person does.
    reason = "an operator stopped it from mission control" if who.admin else None
    if request_stop(_orca().redis, run_id, who.login, reason=reason):
        flash(f"Stop requested by {who.login}.")
    else:
        flash("The run had already ended.")
    return redirect(url_for("mission.run_page", run_id=run_id), code=303)
