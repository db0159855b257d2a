"""Mission control after a real run: the list, the run's page and /metrics tell its story."""

from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from core.settings import load_settings
from tests.e2e.conftest import labeled_payload, make_scene, pulls
from tests.e2e.test_label_to_pull_request import script_fix
from tests.mission_scene import csrf_of


def samples(url: str) -> dict[tuple[str, tuple], float]:
    text = requests.get(f"{url}/metrics", timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_finished_run_in_mission_control_and_metrics(orca):
    scene = make_scene(orca.github)
    script_fix(orca.model)
    status, answer = orca.deliver("issues", labeled_payload(orca.github, scene))
    assert status == 202, answer
    orca.drain()
    [pull] = pulls(orca.github)
    run_id = answer["run"]

    found = samples(orca.url)
    assert found[("orca_runs", (("status", "done"),))] == 1
    assert found[("orca_runs_finished_total", (("status", "done"),))] == 1
    assert found[("orca_run_turns_total", ())] == 5
    assert found[("orca_run_tokens_total", ())] > 0
    assert found[("orca_webhook_deliveries_total", (("status", "202"),))] == 1
    # The workers' GitHub calls: token mints (201), reads (200), the comment and the PR (201).
    assert found[("orca_github_api_calls_total", (("status", "200"),))] >= 3
    assert found[("orca_github_api_calls_total", (("status", "201"),))] >= 3
    assert 0 < found[("orca_github_rate_limit_remaining", (("resource", "core"),))] < 5000

    settings = load_settings(ORCA_ADMIN_TOKEN="e2e-operator-token")
    client = create_app(settings, orca.redis).test_client()
    form = client.get("/auth/signin").text
    client.post("/auth/admin", data={"csrf_token": csrf_of(form), "token": "e2e-operator-token"})
    row = client.get("/runs").text.split(f'id="run-{run_id}"')[1].split("</tr>")[0]
    assert f"/octo-org/hello/pull/{pull.number}" in row and ">5<" in row and "done" in row
    page = client.get(f"/runs/{run_id}").text
    assert "5 of 150" in page and "str_replace_based_edit_tool: str_replace /workspace/hello.py" in page
    assert orca.github.violations == []
