"""The Dockerfile and compose.yaml agree with the code (no Docker engine runs here).

Every `orca ...` they run parses with the real CLI parser, every variable they set is an Orca
setting or a known one, the health check asks a route the web app serves, and the image has
git and bubblewrap and runs as a non-root user.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from app import create_app
from app.cli import parser
from app.setup import REDIS_PASSWORD
from core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
# Set by the image for Python itself, and for the Redis service, not read by Orca.
OTHER_KNOWN_VARIABLES = {"PYTHONUNBUFFERED", REDIS_PASSWORD}


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, arguments = line.partition(" ")
            pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def instructions(name: str) -> list[str]:
    return [arguments for instruction, arguments in dockerfile() if instruction == name]


def argv(arguments: str) -> list[str]:
    """An exec-form (JSON) or shell-form command as a list."""
    return json.loads(arguments) if arguments.startswith("[") else shlex.split(arguments)


def env_pairs(arguments: str) -> dict[str, str]:
    """`ENV A=1 B=2` as a dict."""
    return dict(word.split("=", 1) for word in shlex.split(arguments))


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def orca_commands() -> list[list[str]]:
    """Every command the image runs: its CMD and each compose service built from it."""
    commands = [argv(instructions("CMD")[-1])]
    commands += [service["command"] for service in compose()["services"].values()
                 if "build" in service]
    return commands


def parse_orca(command: list[str]):
    assert command[0] == "orca", command
    try:
        return parser().parse_args(command[1:])
    except SystemExit:
        pytest.fail(f"`{' '.join(command)}` is not a valid orca command")


def test_image_is_python_slim_with_git_bubblewrap_and_the_sandboxs_network():
    assert instructions("FROM") == ["python:3.11-slim"]
    installs = [run for run in instructions("RUN") if "apt-get install" in run]
    assert installs and "--no-install-recommends" in installs[0]
    assert {"git", "bubblewrap", "slirp4netns", "nftables"} <= set(installs[0].split())


def test_image_runs_as_a_non_root_user():
    user = instructions("USER")[-1]
    assert user not in ("root", "0") and not user.startswith("0:")
    assert any(re.search(rf"useradd\b.*\b{user}$", run) for run in instructions("RUN"))
    commands = [instruction for instruction, _ in dockerfile()]
    assert commands.index("USER") > max(i for i, c in enumerate(commands) if c == "RUN")


@pytest.mark.parametrize("command", orca_commands(), ids=" ".join)
def test_every_orca_command_exists(command):
    parse_orca(command)


def test_every_variable_set_is_an_orca_setting_or_known():
    known = {field.alias for field in Settings.model_fields.values()} | OTHER_KNOWN_VARIABLES
    variables = {}
    for arguments in instructions("ENV"):
        variables.update(env_pairs(arguments))
    for service in compose()["services"].values():
        variables.update(service.get("environment") or {})
    assert variables and set(variables) <= known


def test_health_check_asks_a_route_the_web_app_serves():
    check = instructions("HEALTHCHECK")[-1]
    match = re.search(r"http://127\.0\.0\.1:(\d+)(/[\w/-]*)", check)
    assert match, check
    settings = Settings(GITHUB_APP_ID=1, GITHUB_PRIVATE_KEY="k", GITHUB_WEBHOOK_SECRET="s")
    app = create_app(settings, redis.Redis())  # no I/O until a request comes
    assert match[2] in {rule.rule for rule in app.url_map.iter_rules()}
    web = parse_orca(argv(instructions("CMD")[-1]))
    assert web.command == "web" and web.host == "0.0.0.0" and int(match[1]) == web.port
    assert instructions("EXPOSE") == [str(web.port)]


def test_compose_runs_redis_web_and_scalable_workers_on_one_image():
    services = compose()["services"]
    assert set(services) == {"redis", "web", "acks", "worker"}
    redis_service = services["redis"]
    assert redis_service["image"].startswith("redis:7")
    assert "--appendonly yes" in " ".join(redis_service["command"])
    assert any(v.endswith(":/data") for v in redis_service["volumes"])
    web, worker = services["web"], services["worker"]
    assert web["image"] == worker["image"] and web["env_file"] == worker["env_file"] == ".env"
    assert web["ports"] == ["8000:8000"]
    assert web["environment"]["REDIS_URL"].endswith("@redis:6379/0")
    assert parse_orca(worker["command"]).command == "worker"
    # Runs and acknowledgements on separate workers: a 👀 never waits behind a run.
    assert parse_orca(worker["command"]).queues == "runs"
    acks = services["acks"]
    assert parse_orca(acks["command"]).queues == "fast" and acks["image"] == worker["image"]
    # A fixed name or host port would stop `docker compose up --scale worker=N`.
    assert "container_name" not in worker and "ports" not in worker


def test_run_workers_can_give_a_sandbox_its_own_network():
    """bubblewrap needs namespaces Docker's default profiles refuse; slirp4netns needs the TUN
    device (jobs/sandbox/network.py), else runs with `network: true` end saying it is missing."""
    worker = compose()["services"]["worker"]
    assert "/dev/net/tun:/dev/net/tun" in worker["devices"]
    assert {"seccomp=unconfined", "apparmor=unconfined"} <= set(worker["security_opt"])
    assert "network_mode" not in worker and "privileged" not in worker


def test_redis_requires_the_password_orca_setup_writes():
    """Whoever can write to Redis can queue a job a worker runs, outside any sandbox."""
    services = compose()["services"]
    needed = f"${{{REDIS_PASSWORD}:?"
    redis_service = services["redis"]
    assert redis_service["environment"][REDIS_PASSWORD].startswith(needed)
    command = redis_service["command"]
    # The password reaches redis-server through stdin, never its command line.
    assert command[:2] == ["sh", "-c"] and f'"requirepass %s\\n" "$${REDIS_PASSWORD}"' in command[2]
    assert "| exec redis-server - --appendonly yes" in command[2]
    for name, service in services.items():
        if "build" in service:
            assert service["environment"]["REDIS_URL"].startswith(f"redis://:{needed}"), name
    assert "ports" not in redis_service  # only the compose network reaches it


def test_web_and_workers_share_the_data_volume_the_image_declares():
    data_dir = env_pairs(instructions("ENV")[0])["ORCA_DATA_DIR"]
    assert argv(instructions("VOLUME")[-1]) == [data_dir]
    spec = compose()
    mounts = [{v for v in spec["services"][name]["volumes"] if v.endswith(f":{data_dir}")}
              for name in ("web", "worker")]
    assert mounts[0] == mounts[1] and len(mounts[0]) == 1
    assert next(iter(mounts[0])).split(":")[0] in spec["volumes"]
    for name in ("web", "worker"):
        assert spec["services"][name]["environment"].get("ORCA_DATA_DIR", data_dir) == data_dir


def test_the_image_copies_every_package_it_installs():
    """`pip install .` installs what pyproject.toml's find includes and the COPY lines brought
    in; a package left out installs nothing and `orca` fails at its first import."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {pattern.rstrip("*") for pattern
                in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {argv(copy)[0] for copy in instructions("COPY")}
    assert packages and packages <= copied


def test_the_readmes_toolchain_image_builds_on_this_one_and_gives_the_user_back():
    """README, "Toolchains": a team's image FROM Orca's installs as root and runs as orca."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Toolchains\n", 1)[1].split("\n## ", 1)[0]
    example = re.sub(r"\\\n", " ", section.split("```dockerfile\n", 1)[1].split("```", 1)[0])
    lines = [line.split(" ", 1) for line in example.splitlines() if line.strip()]
    assert lines[0] == ["FROM", compose()["services"]["worker"]["image"]]
    users = [(i, arguments) for i, (instruction, arguments) in enumerate(lines)
             if instruction == "USER"]
    installs = [i for i, (instruction, arguments) in enumerate(lines)
                if instruction == "RUN" and "apt-get install" in arguments]
    assert installs and users[0][1] == "root" and users[0][0] < installs[0]
    assert users[-1] == (len(lines) - 1, instructions("USER")[-1])
    assert all("--no-install-recommends" in lines[i][1] for i in installs)
    parse_orca(["orca", "doctor"])
    assert "docker compose run --rm worker orca doctor" in section


def test_secrets_stay_out_of_the_image():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and "*.pem" in ignored
    assert not any(argv(copy)[0] == "." for copy in instructions("COPY"))
