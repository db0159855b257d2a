"""Mission control's insights, `/insights`: the last 30 days per installation, in pictures.

Runs and dollars per day, the outcomes of Orca's work (merged, open, closed unmerged, failed)
and the median time from a request to its pull request, as inline SVG drawn on the server
(app/mission/charts.py), each picture's figures also in words and a table. What a viewer
sees is decided in app/mission/insights_data.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from app import viewer
from app.mission import insights_data
from app.mission.charts import Bar, bar_chart
from app.pages import dollars, duration

blueprint = Blueprint("insights", __name__)
# A day's bar is labelled once a week, counting back from today.
LABEL_EVERY = 7
COLOURS = {"merged": "#8250df", "open": "#1a7f37", "closed unmerged": "#9a6700",
           "failed": "#cf222e"}


@blueprint.get("/insights")
def page():
    orca = current_app.extensions["orca"]
    who = viewer.current(orca.redis)
    if who is None:
        return redirect(url_for("auth.signin", next=request.full_path.rstrip("?")))
    found = insights_data.gather(orca.redis, who, orca.clock())
    return render_template("insights.html", insights=[_charts(i) for i in found],
                           days=insights_data.DAYS, outcomes=insights_data.OUTCOMES)


def _runs(value: float) -> str:
    return "1 run" if value == 1 else f"{int(value):,} runs"


def _count(value: float) -> str:
    return f"{int(value):,}"


def _short(day: str) -> str:
    """`2026-12-04` → `Dec 4`."""
    moment = datetime.strptime(day, "%Y-%m-%d")
    return f"{moment:%b} {moment.day}"


def _charts(insight: insights_data.Insight) -> dict[str, Any]:
    """The installation's pictures and the words beside them."""
    name = f"installation {insight.installation_id}"
    if insight.repositories:
        name += f" ({', '.join(sorted(insight.repositories))})"
    days = insight.days
    per_day = [Bar(d.day, d.runs, short=_short(d.day)) for d in days]
    spent = [Bar(d.day, d.dollars, short=_short(d.day)) for d in days]
    ends = [Bar(o, insight.outcomes[o], COLOURS[o]) for o in insights_data.OUTCOMES]
    return {"insight": insight, "name": name,
            "runs": sum(d.runs for d in days), "dollars": sum(d.dollars for d in days),
            "runs_chart": bar_chart(f"Runs per day, last {len(days)} days, {name}", per_day,
                                    _runs, LABEL_EVERY),
            "dollars_chart": bar_chart(f"Dollars per day, last {len(days)} days, {name}", spent,
                                       dollars, LABEL_EVERY),
            "outcomes_chart": bar_chart(f"Outcomes of the runs kept, {name}", ends, _count),
            "median": duration(insight.median_to_pull) if insight.to_pull else None}
