"""Attacks from inside the sandbox, each through a whole run with real bubblewrap.

The fake model scripts the agent's bash commands; each test reads what the commands saw (the
tool results sent back to the model), checks the host, and checks that the run still ended
with a tracking comment, naming the bound a command ran into.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from tests.e2e.conftest import comments_on, labeled_payload, make_scene
from tests.fakes.model import reply, text, tool_use


def run_commands(orca, commands: list[str], config: tuple[str, str] | None = None,
                 drain=None) -> tuple[list[str], str]:
    """One run whose agent runs `commands` in order, then stops; (their results, the final
    tracking comment). The commands must leave /workspace unchanged (no diff review)."""
    files = {"README.md": "# Hello\n", **dict([config] if config else [])}
    scene = make_scene(orca.github, files=files, body="Please.")
    orca.model.script(reply(*[tool_use("bash", {"command": c}) for c in commands]),
                      reply(text("Done poking around.")))
    orca.deliver("issues", labeled_payload(orca.github, scene))
    (drain or orca.drain)()
    assert orca.model.remaining == 0 and orca.model.violations == []
    blocks = orca.model.requests[1]["messages"][-1]["content"]
    results = [b["content"] for b in blocks if b["type"] == "tool_result"]
    assert len(results) == len(commands)
    [comment], _ = comments_on(orca.github, scene)
    return results, comment.body


def test_a_command_holds_no_capability_and_cannot_remount_usr(orca):
    """Started by root, the sandbox used to keep every capability: remounting /usr read-write
    and writing there reached the host's /usr/bin."""
    planted = Path(f"/usr/bin/orca-attack-{secrets.token_hex(4)}")
    commands = [
        "grep -E 'Cap(Eff|Prm|Bnd)' /proc/self/status; cat /proc/self/uid_map",
        f"mount -o remount,bind,rw /usr; echo planted > {planted} && echo WROTE",
        f"unshare -Urm sh -c 'mount -o remount,bind,rw /usr; echo planted > {planted}' "
        "&& echo WROTE-NESTED",
    ]
    try:
        results, comment = run_commands(orca, commands)
        assert not planted.exists()
    finally:
        planted.unlink(missing_ok=True)  # should the attack ever succeed
    assert "CapEff:\t0000000000000000" in results[0]
    assert "CapBnd:\t0000000000000000" in results[0]
    assert "WROTE" not in results[1] and "WROTE" not in results[2]
    assert "mount: /usr: permission denied" in results[1]
    assert comment.startswith("🤷 Orca finished without changing any files")


def test_filling_tmp_stops_at_its_size_and_the_comment_says_so(orca, monkeypatch):
    monkeypatch.setenv("ORCA_SANDBOX_TMP_SIZE", "16MiB")
    results, comment = run_commands(orca, [
        "dd if=/dev/zero of=/tmp/fill bs=1M count=64 2>&1 | head -1; stat -c %s /tmp/fill"])
    assert "No space left on device" in results[0]
    assert int(results[0].split("\n")[1]) <= 16 * 1024**2
    assert "[/tmp is full: it holds 16 MiB (ORCA_SANDBOX_TMP_SIZE)" in results[0]
    assert "/tmp full (16 MiB)" in comment


def test_memory_past_its_bound_is_killed_and_the_comment_says_so(orca, monkeypatch):
    monkeypatch.setenv("ORCA_SANDBOX_MEMORY", "64MiB")
    results, comment = run_commands(orca, [
        "python3 -c \"b = b'x' * (256 << 20); print('ALLOCATED', len(b))\"; echo after"])
    assert "ALLOCATED 268435456" not in results[0] and "\nafter\n" in results[0]
    assert "[out of memory: the command's processes may use 64 MiB together" in results[0]
    assert "out of memory (64 MiB)" in comment


def test_secrets_and_other_repositories_are_not_visible(orca):
    workdir = Path.cwd()
    marker = f"orca-secret-{secrets.token_hex(4)}"
    (workdir / ".env").write_text(f"ORCA_TEST_SECRET={marker}\n")
    (workdir / "orca.private-key.pem").write_text(f"-----BEGIN {marker}-----\n")
    other = orca.data_dir / "mirrors" / "other-org" / "private.git"
    other.mkdir(parents=True)
    (other / "HEAD").write_text(f"{marker}\n")
    results, comment = run_commands(orca, [
        f"cat {workdir}/.env {workdir}/orca.private-key.pem {other}/HEAD 2>&1",
        f"ls -a {orca.data_dir} {orca.data_dir}/mirrors {orca.data_dir}/mirrors/* 2>&1",
        f"grep -rs {marker} / --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr "
        "--exclude-dir=dev; echo searched",
    ])
    seen = "\n".join(results)
    assert marker not in seen and "searched" in results[2]
    assert "other-org" not in results[1]
    assert comment.startswith("🤷")


def test_a_setup_command_past_a_bound_ends_the_run_naming_it(orca, monkeypatch):
    monkeypatch.setenv("ORCA_SANDBOX_TMP_SIZE", "1MiB")
    config = ".github/orca.yml", "setup:\n  - head -c 2M /dev/zero > /tmp/cache\n"
    scene = make_scene(orca.github, files={"README.md": "# Hello\n", config[0]: config[1]})
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()
    [comment], _ = comments_on(orca.github, scene)
    assert comment.body.startswith(
        "❌ Orca's run failed: the setup command `head -c 2M /dev/zero > /tmp/cache` failed "
        "(exit code 1; /tmp full (1 MiB)):")
    assert orca.model.requests == []
