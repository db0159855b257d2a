"""The layout's rules (ARCHITECTURE.md), read from the code itself.

- `core/` imports neither tier; the web tier (`app/`) never imports the workers' `jobs/`, and
  `jobs/` never imports `app/`. Only `app/cli.py`, the command line that starts both, may.
- Inside `jobs/`, the packages a run goes through (task, workspace, sandbox, agent, verify,
  github, review, plans) never import the jobs composed from them (`jobs.run`, `jobs.steer`).
- Every module imports on its own (no import cycles), and the web app loads neither a worker
  module nor the model's SDK.
- Jobs are put on queues only in `core/queues.py`.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIERS = ("app", "core", "jobs")
COMPOSITION_ROOTS = {"app/cli.py"}
STEPS = ("jobs/task", "jobs/workspace", "jobs/sandbox", "jobs/agent", "jobs/github", "jobs/verify",
         "jobs/review", "jobs/plans")


def modules() -> list[Path]:
    return sorted(path for tier in TIERS for path in (ROOT / tier).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> list[str]:
    """Every module name the file imports, at any depth (lazy imports count too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def test_the_rule_reads_real_imports():
    """The reader sees plain, from- and lazy imports, so the rules below can fail."""
    webhooks = imported(ROOT / "app" / "webhooks.py")
    assert "core.queues" in webhooks and "flask" in webhooks
    assert "jobs.local" in imported(ROOT / "app" / "cli.py")  # inside a function


def test_core_imports_neither_tier_and_the_tiers_do_not_import_each_other():
    forbidden = {"core": ("app", "jobs"), "app": ("jobs",), "jobs": ("app",)}
    crossings = []
    for path in modules():
        rel = path.relative_to(ROOT).as_posix()
        tier = rel.split("/")[0]
        if rel in COMPOSITION_ROOTS:
            continue
        for name in imported(path):
            if name.split(".")[0] in forbidden[tier]:
                crossings.append(f"{rel} imports {name}")
    assert crossings == []


def test_the_steps_do_not_import_the_jobs_composed_from_them():
    upward = []
    for step in STEPS:
        for path in sorted((ROOT / step).rglob("*.py")):
            upward += [f"{path.relative_to(ROOT)} imports {name}" for name in imported(path)
                       if name.startswith(("jobs.run", "jobs.steer"))]
    assert upward == []


def test_every_module_imports_on_its_own_and_the_web_app_loads_no_worker_code():
    names = [module_name(path) for path in modules()]
    script = f"""
import importlib, sys
ours = {TIERS!r}
failed = []
for name in {names!r}:
    for loaded in [m for m in sys.modules if m.split(".")[0] in ours]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{{name}}: {{exc!r}}")
print(failed)
for loaded in [m for m in sys.modules if m.split(".")[0] in ours]:
    del sys.modules[loaded]
for gone in [m for m in sys.modules if m.split(".")[0] == "anthropic"]:
    del sys.modules[gone]
import app, app.auth, app.metrics, app.mission, app.webhooks
print(sorted(m for m in sys.modules if m.split(".")[0] in ("jobs", "anthropic")))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True).stdout.splitlines()
    assert out == ["[]", "[]"], out


def test_every_job_queued_names_a_function_and_orca_worker_preloads_its_module():
    from rq.utils import import_attribute

    from app.cli import WORKER_PRELOAD
    from core.queues import ENTRY_POINTS

    for name in ENTRY_POINTS:
        assert callable(import_attribute(name)), name
        assert name.rsplit(".", 1)[0] in WORKER_PRELOAD
    queues = (ROOT / "core" / "queues.py").read_text()
    named = {n.value for n in ast.walk(ast.parse(queues))
             if isinstance(n, ast.Constant) and str(n.value).startswith("jobs.")}
    assert named == set(ENTRY_POINTS)


@pytest.mark.parametrize("method", ["enqueue", "enqueue_call", "enqueue_in", "enqueue_at"])
def test_jobs_are_queued_only_in_core_queues(method):
    callers = []
    for path in modules():
        if path == ROOT / "core" / "queues.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == method):
                callers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert callers == []
    queues = ast.parse((ROOT / "core" / "queues.py").read_text())
    assert any(isinstance(n, ast.Attribute) and n.attr == method for n in ast.walk(queues)) \
        or method == "enqueue_at"


def test_a_run_worker_has_imported_what_a_runs_model_client_needs():
    """`orca worker` preloads the model client's HTTP stack, which the SDK imports only when
    a first client is built, and the TLS context its clients share: a run's work-horse, forked
    afterwards, imports nothing more and reads no trust store (~20 ms of CPU each)."""
    script = (
        "import ssl, sys\n"
        "from app.cli import preload\n"
        "preload('runs')\n"
        "before = set(sys.modules)\n"
        "reads = []\n"
        "load = ssl.SSLContext.load_verify_locations\n"
        "ssl.SSLContext.load_verify_locations = lambda *a, **k: reads.append(a) or load(*a, **k)\n"
        "from core.settings import AgentSettings\n"
        "from jobs.agent.session import model_client\n"
        "for _ in range(2):\n"
        "    model_client(AgentSettings(ANTHROPIC_API_KEY='k')).close()\n"
        "print(sorted(set(sys.modules) - before), len(reads))\n")
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True, cwd=ROOT)
    assert found.stdout.strip() == "[] 0", found.stdout
