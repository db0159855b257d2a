"""Attacks on the sandbox's own bounds through real runs: capabilities and the private /tmp."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from jobs.sandbox import Limits
from tests.e2e.conftest import comments_on, labeled_payload, make_scene
from tests.fakes.model import reply, text, tool_use


def run_commands(orca, commands: list[str]) -> tuple[list[str], str]:
    """A run whose agent runs `commands` and changes nothing: (their results, the comment)."""
    scene = make_scene(orca.github)
    orca.model.script(reply(*[tool_use("bash", {"command": c}) for c in commands]),
                      reply(text("Done.")))
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()
    results = [b["content"] for b in orca.model.requests[1]["messages"][-1]["content"]
               if b["type"] == "tool_result"]
    [comment], _ = comments_on(orca.github, scene)
    return results, comment.body


def test_root_in_the_sandbox_cannot_remount_the_hosts_system_read_write(orca):
    """Orca here runs as root, as `orca up` on a server does: the command must still hold no
    capability, so /usr stays read-only and nothing lands in the host's /usr/bin."""
    planted = Path(f"/usr/bin/orca-hostile-{uuid.uuid4().hex[:12]}")
    try:
        results, comment = run_commands(orca, [
            "grep CapEff /proc/self/status",
            f"mount -o remount,bind,rw /usr 2>&1; echo pwned > {planted} 2>&1; echo status $?",
            "mount -t tmpfs none /mnt 2>&1; unshare -U -r true 2>&1; echo tried",
        ])
        assert results[0].split() == ["CapEff:", "0" * 16]
        assert "status 0" not in results[1]
        assert not planted.exists()
        assert comment.startswith("🤷 Orca finished without changing any files")
    finally:
        planted.unlink(missing_ok=True)  # should the attack ever succeed, leave no trace


def test_filling_tmp_stops_at_its_size_and_the_run_goes_on(orca):
    size_mb = Limits().tmp_bytes // 1024**2  # a tmpfs: the host's memory
    # Files under the file-size limit each, together past the size of /tmp.
    count = size_mb // 200 + 2
    results, comment = run_commands(orca, [
        f"for i in $(seq {count}); do head -c 200M /dev/zero > /tmp/f$i || break; done 2>&1; "
        "cat /tmp/f* | wc -c",
    ])
    assert "No space left on device" in results[0], results[0]
    written = re.findall(r"^(\d+)$", results[0], re.MULTILINE)[-1]  # a note on the bound follows
    assert int(written) <= Limits().tmp_bytes
    assert comment.startswith("🤷 Orca finished without changing any files")
