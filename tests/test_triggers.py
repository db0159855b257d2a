import copy

import pytest

from app.triggers import PayloadError, Trigger, trigger_for
from tests import payloads

LABEL = "agent"


def labeled(label=LABEL, sender_type="User", login="octocat", state="open"):
    payload = payloads.issues_labeled(
        base_url="http://127.0.0.1:9", installation_id=7,
        repo={"full_name": "octo-org/hello", "id": 42, "default_branch": "main"},
        sender_login=login, sender_type=sender_type, sender_id=99,
        issue={"number": 5, "title": "Fix it", "body": "please"}, label=label,
    )
    payload["issue"]["state"] = state
    return payload


def test_label_becomes_a_trigger_with_ids_only():
    trigger = trigger_for("issues", labeled(), label=LABEL)
    assert trigger == Trigger(kind="label", installation_id=7, repository="octo-org/hello",
                              repository_id=42, number=5, requester="octocat", requester_id=99)
    assert Trigger.from_dict(trigger.to_dict()) == trigger


@pytest.mark.parametrize("event, payload", [
    ("issues", labeled(label="bug")),
    ("issues", labeled(sender_type="Bot", login="dependabot[bot]")),
    ("issues", labeled(login="orca-test[bot]")),
    ("issues", labeled(state="closed")),
    ("issues", {**labeled(), "action": "opened"}),
    ("push", labeled()),
    ("ping", {"zen": "Keep it logically awesome."}),
])
def test_not_a_trigger(event, payload):
    assert trigger_for(event, payload, label=LABEL) is None


@pytest.mark.parametrize("mutate", [
    lambda p: p.pop("installation"),
    lambda p: p["installation"].update(id="7"),
    lambda p: p["installation"].update(id=True),
    lambda p: p["issue"].update(number=None),
    lambda p: p.update(sender="octocat"),
    lambda p: p["label"].pop("name"),
])
def test_malformed_payload_is_a_payload_error(mutate):
    payload = copy.deepcopy(labeled())
    mutate(payload)
    with pytest.raises(PayloadError):
        trigger_for("issues", payload, label=LABEL)


def test_non_object_payload():
    with pytest.raises(PayloadError):
        trigger_for("issues", ["not", "an", "object"], label=LABEL)
