"""With ORCA_PUBLIC_URL, the tracking comment and the pull request link to the run's page."""

from __future__ import annotations

from tests.e2e.conftest import comments_on as comments
from tests.e2e.conftest import labeled_payload, make_scene, pulls
from tests.e2e.test_label_to_pull_request import script_fix


def test_tracking_comment_and_pull_request_link_to_the_run_page(orca, monkeypatch):
    monkeypatch.setenv("ORCA_PUBLIC_URL", "https://orca.example.org/")  # read by the worker
    github = orca.github
    scene = make_scene(github)
    script_fix(orca.model)

    status, answer = orca.deliver("issues", labeled_payload(github, scene))
    assert status == 202, answer
    orca.drain()

    run_id = answer["run"]
    link = f"Run [`{run_id}`](https://orca.example.org/runs/{run_id})"
    found, _ = comments(github, scene)
    tracking = [c for c in found if f"orca-run: {run_id}" in c.body]
    assert len(tracking) == 1 and "✅ Opened" in tracking[0].body
    assert f"{link}\n<!-- orca-run: {run_id} -->" in tracking[0].body
    [pull] = pulls(github)
    assert pull.body.rstrip().endswith(link)
