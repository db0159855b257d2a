"""The fake model's answers for several conversations at once, as attempts make them
(jobs.run.attempts, `orca solve --attempts`): their first requests are alike, so each takes the
next script and is known afterwards by the id of its first tool call (`toolu_s<script>_...`)."""

from __future__ import annotations

import re
import threading

from tests.fakes.model_script import looks_right


class Attempts:
    """The fake model's answers for several conversations at once. Each attempt's first request
    takes the next script; its later ones are known by the first tool call's id. Requests with
    no tools are the fresh-context check (answered LOOKS RIGHT) or the judge."""

    def __init__(self, scripts: list[list], judge=None) -> None:
        self.scripts, self.judge, self.lock, self.taken = scripts, judge, threading.Lock(), 0
        self.judge_prompts: list[str] = []

    def __call__(self, body):
        if "tools" not in body:
            if "compare independent attempts" in body["system"]:
                said = body["messages"][0]["content"][0]["text"]
                self.judge_prompts.append(said)
                return self.judge(said)
            return looks_right()
        messages = body["messages"]
        if len(messages) == 1:
            with self.lock:
                script, self.taken = self.taken, self.taken + 1
        else:
            first = next(b["id"] for b in messages[1]["content"] if b["type"] == "tool_use")
            script = int(re.match(r"toolu_s(\d+)_", first)[1])
        step = sum(1 for m in messages if m["role"] == "assistant")
        return self.scripts[script][step]
