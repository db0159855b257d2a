"""Mission control: the home view, the list of runs, a page per run that follows it live,
and Stop.

Server-rendered (Jinja templates in app/templates). The run page follows its run over
Server-Sent Events from `/runs/<id>/stream` (app.mission.stream: capped per process and in
time, so open pages never take the threads webhooks need), and, when the server has no
stream free or the browser no EventSource, polls `/runs/<id>/events` every two seconds; either
way it appends the events it has not shown yet, rendered by the same template as the first
ones, and the summary again. An ended run's page shows the diff of the commit it pushed
(app.mission.diff, from Orca's mirror) and, in the summary, Orca's own test runs
(app.mission.verification).
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
    stream_with_context,
    url_for,
)

from app import pages, viewer
from app.mission import data, diff, insights, stream, verification
from app.mission.home import HomeFilters, read_home
from core import ledger
from core.runs import ACTIVE, STATUSES, RunStore
from core.stops import request_stop

blueprint = Blueprint("mission", __name__)
blueprint.after_request(pages.secure_headers)
blueprint.record_once(lambda state: pages.register(state.app))
blueprint.record_once(stream.install)
blueprint.record_once(verification.install)
blueprint.register_blueprint(insights.blueprint)  # /insights, under the same headers
# The page polls this often while a run is queued or running (and no stream is free).
POLL_MILLISECONDS = 2000
# The diff at the end on the run's page; /runs/<id>/diff has the rest, up to diff.MAX_BYTES.
SHOWN_DIFF_BYTES = 64 * 1024


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
                      if who.admin and run.get("status") == "failed" else None),
            "verification": verification.lines(
                *verification.tests_of(connection, run,
                                       current_app.extensions[verification.READINGS]),
                ended=run.get("status") not in ACTIVE)}


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
                           last_id=events[-1]["id"] if events else "0",
                           final_diff=_diff_at_the_end(run, SHOWN_DIFF_BYTES),
                           **_summary(run, who))


def _diff_at_the_end(run: dict[str, Any], max_bytes: int) -> str | None:
    """The pushed commit's diff of a run that has ended (app.mission.diff), else None."""
    if run.get("status") in ACTIVE or not run.get("commit"):
        return None
    text = diff.diff_at_the_end(_orca().settings.data_dir, str(run.get("repository", "")),
                                run["commit"], max_bytes)
    return text or ("The commit is not in Orca's mirror of the repository on this machine "
                    "(the web process does not share ORCA_DATA_DIR with the workers).\n")


def _news(run: dict[str, Any], who: viewer.Viewer,
          events: list[dict[str, Any]]) -> tuple[dict[str, Any], bool]:
    """What a poll or a stream's message carries: the new events as this viewer may read them,
    rendered as on the page, the summary again, and whether the run is still going."""
    shown = data.for_viewer(events, who.admin)
    active = run.get("status") in ACTIVE
    news = {"events": [{"id": e["id"], "html": render_template("_event.html", event=e)}
                       for e in shown],
            "active": active, "summary": render_template("_summary.html", **_summary(run, who))}
    if not active:  # the last news of a followed run: its diff at the end, once
        news["diff_area"] = render_template(
            "_diff_area.html", run=run, final_diff=_diff_at_the_end(run, SHOWN_DIFF_BYTES))
    return news, active


@blueprint.get("/runs/<run_id>/events")
def run_events(run_id: str):
    """New events after `after` (a stream id) and the re-rendered summary, as JSON."""
    who = _viewer()
    run = _visible_run(run_id, who) if who is not None else None
    if run is None:
        return jsonify(error="not signed in, or no such run"), 404
    after = request.args.get("after", "0")
    events = data.events_after(_orca().redis, run_id, stream.stream_id(after))
    body, _active = _news(run, who, events)
    return jsonify(last=events[-1]["id"] if events else after, **body)


@blueprint.get("/runs/<run_id>/stream")
def run_stream(run_id: str):
    """The same news as Server-Sent Events while the run goes on (app.mission.stream); 503
    when this process already follows as many pages as it may, and the page polls."""
    who = _viewer()
    run = _visible_run(run_id, who) if who is not None else None
    if run is None:
        return jsonify(error="not signed in, or no such run"), 404
    if run.get("status") not in ACTIVE:
        return "", 204  # nothing more will come: EventSource stops, without reconnecting
    slots = current_app.extensions[stream.SLOTS]
    give_back = slots.take()
    if give_back is None:
        return (jsonify(error="this process follows as many run pages as it may; poll"), 503,
                {"Retry-After": str(POLL_MILLISECONDS // 1000)})
    after = stream.stream_id(request.headers.get("Last-Event-ID"), request.args.get("after"))
    store = RunStore(_orca().redis)

    def render(events: list[dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        return _news(store.get(run_id) or run, who, events)

    news = stream.follow(_orca().redis, run_id, after, _orca().settings.stream_seconds, render,
                         slots.closing)
    return stream.answer(current_app.response_class, stream_with_context(news), give_back)


@blueprint.get("/runs/<run_id>/diff")
def run_diff(run_id: str):
    who = _viewer()
    run = _visible_run(run_id, who) if who is not None else None
    if run is None:
        return _not_found()
    if (text := _diff_at_the_end(run, diff.MAX_BYTES)) is not None:
        return current_app.response_class(text, mimetype="text/plain")
    workspace = data.first_event(_orca().redis, run_id, "workspace") or {"data": {}}
    text = diff.diff_so_far(_orca().settings.data_dir, run_id, str(run.get("repository", "")),
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
