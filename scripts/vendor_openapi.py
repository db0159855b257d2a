"""Regenerate the pruned GitHub REST description the fake GitHub validates against.

Usage: ``python scripts/vendor_openapi.py [--from-tarball PATH]``

It runs ``npm pack @octokit/openapi@<PINNED_VERSION>`` in a temporary directory, keeps only
the operations Orca uses plus every component they reference (transitively), and writes
compact JSON with the package's MIT licence to ``tests/fakes/vendor/openapi/``. The tests only
read the vendored output; they never need npm.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

PACKAGE = "@octokit/openapi"
PINNED_VERSION = "23.0.2"
SPEC_MEMBER = "package/generated/api.github.com.json"
VENDOR_DIR = Path(__file__).resolve().parent.parent / "tests" / "fakes" / "vendor" / "openapi"
PRUNED_NAME = "api.github.com.pruned.json"

# (method, path) pairs the fake GitHub serves; keep in step with the ROUTES in tests/fakes/github_api_*.py.
OPERATIONS: list[tuple[str, str]] = [
    ("get", "/app"),
    ("post", "/app/installations/{installation_id}/access_tokens"),
    ("get", "/app/installations/{installation_id}"),
    ("get", "/app/installations"),
    ("get", "/repos/{owner}/{repo}/installation"),
    ("get", "/app/hook/deliveries"),
    ("get", "/app/hook/deliveries/{delivery_id}"),
    ("post", "/app/hook/deliveries/{delivery_id}/attempts"),
    ("post", "/app-manifests/{code}/conversions"),
    ("get", "/users/{username}"),
    ("get", "/user"),
    ("get", "/repos/{owner}/{repo}"),
    ("get", "/repos/{owner}/{repo}/collaborators/{username}/permission"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("get", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("patch", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("delete", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/reactions"),
    ("post", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"),
    ("post", "/repos/{owner}/{repo}/pulls/comments/{comment_id}/reactions"),
    ("get", "/repos/{owner}/{repo}/pulls"),
    ("post", "/repos/{owner}/{repo}/pulls"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("patch", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/comments"),
    ("post", "/repos/{owner}/{repo}/pulls/{pull_number}/comments/{comment_id}/replies"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}/comments"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}"),
    # Orca's own reviews of pull requests: the changed files, earlier reviews, a new review,
    # and the review comment a `/agent fix` answers.
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/files"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("post", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("get", "/repos/{owner}/{repo}/pulls/comments/{comment_id}"),
    ("get", "/repos/{owner}/{repo}/branches/{branch}"),
    ("get", "/repos/{owner}/{repo}/git/matching-refs/{ref}"),
    ("delete", "/repos/{owner}/{repo}/git/refs/{ref}"),
    ("get", "/repos/{owner}/{repo}/contents/{path}"),
    ("get", "/rate_limit"),
    # Mission control's sign-in: which repositories a signed-in person can read.
    ("get", "/user/installations"),
    ("get", "/user/installations/{installation_id}/repositories"),
    # CI: check suites and runs, commit statuses, and the Actions jobs behind check runs.
    ("get", "/repos/{owner}/{repo}/commits/{ref}"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}/check-suites"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}/check-runs"),
    ("get", "/repos/{owner}/{repo}/check-suites/{check_suite_id}"),
    ("get", "/repos/{owner}/{repo}/check-suites/{check_suite_id}/check-runs"),
    ("get", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ("get", "/repos/{owner}/{repo}/check-runs/{check_run_id}/annotations"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}/status"),
    ("get", "/repos/{owner}/{repo}/commits/{commit_sha}/pulls"),
    ("get", "/repos/{owner}/{repo}/actions/runs"),
    ("get", "/repos/{owner}/{repo}/actions/runs/{run_id}"),
    ("get", "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs"),
    ("get", "/repos/{owner}/{repo}/actions/jobs/{job_id}"),
    ("get", "/repos/{owner}/{repo}/actions/jobs/{job_id}/logs"),
    ("post", "/repos/{owner}/{repo}/actions/jobs/{job_id}/rerun"),
    # Plans: a sub-task's issue, linked to its parent as a sub-issue.
    ("post", "/repos/{owner}/{repo}/issues"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/sub_issues"),
]

# Operation details a validator never reads; dropping them keeps the file small.
_DROP_OPERATION_KEYS = ("x-github", "externalDocs")


def fetch_tarball(workdir: Path) -> Path:
    """Download the pinned package tarball with npm into ``workdir``."""
    spec = f"{PACKAGE}@{PINNED_VERSION}"
    out = subprocess.run(
        ["npm", "pack", spec, "--silent"], cwd=workdir, check=True, capture_output=True, text=True
    )
    return workdir / out.stdout.strip().splitlines()[-1]


def read_package(tarball: Path) -> tuple[dict[str, Any], str, str]:
    """Return (full spec, LICENSE text, package version) from the npm tarball."""
    with tarfile.open(tarball) as tar:
        spec = json.load(tar.extractfile(SPEC_MEMBER))  # type: ignore[arg-type]
        licence = tar.extractfile("package/LICENSE").read().decode()  # type: ignore[union-attr]
        meta = json.load(tar.extractfile("package/package.json"))  # type: ignore[arg-type]
    return spec, licence, meta["version"]


def _refs(node: Any) -> set[str]:
    """Every ``$ref`` string found anywhere under ``node``."""
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str):
                found.add(ref)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _resolve(spec: dict[str, Any], ref: str) -> Any:
    """Follow a local JSON pointer such as ``#/components/schemas/issue``."""
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _keep_components(spec: dict[str, Any], roots: Any) -> dict[str, dict[str, Any]]:
    """The components reachable from ``roots``, grouped by section (schemas, parameters...)."""
    kept: dict[str, dict[str, Any]] = {}
    pending = list(_refs(roots))
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, section, name = ref.removeprefix("#/").split("/", 2)
        target = _resolve(spec, ref)
        kept.setdefault(section, {})[name] = target
        pending.extend(_refs(target) - seen)
    return {section: dict(sorted(items.items())) for section, items in sorted(kept.items())}


def prune(spec: dict[str, Any], operations: list[tuple[str, str]]) -> dict[str, Any]:
    """A new spec with only ``operations`` and the components they need."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path in operations:
        operation = dict(spec["paths"][path][method])
        for key in _DROP_OPERATION_KEYS:
            operation.pop(key, None)
        paths.setdefault(path, {})[method] = operation
        shared = spec["paths"][path].get("parameters")
        if shared:
            paths[path]["parameters"] = shared
    return {
        "openapi": spec["openapi"],
        "info": spec["info"],
        "servers": spec.get("servers", []),
        "paths": paths,
        "components": _keep_components(spec, paths),
    }


def write_vendor(pruned: dict[str, Any], licence: str, version: str, out_dir: Path) -> None:
    """Write the pruned spec, the licence and a README naming the source version."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / PRUNED_NAME).write_text(json.dumps(pruned, separators=(",", ":"), sort_keys=True))
    (out_dir / "LICENSE").write_text(licence)
    rows = "".join(f"| {method.upper()} | `{path}` |\n" for path, item in pruned["paths"].items()
                   for method in item if method != "parameters")
    (out_dir / "README.md").write_text(
        f"Pruned from `{PACKAGE}` version {version} (`generated/api.github.com.json`), MIT licence"
        " (see LICENSE).\nRegenerate with `python scripts/vendor_openapi.py`.\n\n"
        "The operations kept (`OPERATIONS` in that script), with every component they"
        " reference:\n\n| method | path |\n| --- | --- |\n" + rows
    )


def main(argv: list[str] | None = None) -> None:
    """Fetch (or read) the pinned package, prune it and write the vendored copy."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-tarball", type=Path, help="use an already downloaded tarball")
    parser.add_argument("--out", type=Path, default=VENDOR_DIR)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="vendor-openapi-"))
    try:
        tarball = args.from_tarball or fetch_tarball(workdir)
        spec, licence, version = read_package(tarball)
        pruned = prune(spec, OPERATIONS)
        write_vendor(pruned, licence, version, args.out)
        size = (args.out / PRUNED_NAME).stat().st_size
        print(f"wrote {len(OPERATIONS)} operations, {size // 1024} KB, from {PACKAGE}@{version}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
