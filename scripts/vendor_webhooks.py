"""Regenerate tests/fixtures/webhooks/ from pinned @octokit npm packages.

Usage: ``python scripts/vendor_webhooks.py [--dest DIR] [--tarballs DIR]``. Needs ``npm`` and
the npm registry, or ``--tarballs``: a folder holding the two pinned packages as ``npm pack``
names them (``octokit-webhooks-examples-7.6.1.tgz``...). The tests never need either; they
read only the vendored files this script writes.

What it writes:

* ``examples/<event>.json``: a JSON list of the upstream example payloads (unchanged, in
  upstream order) for the events and actions Orca handles (``WANTED`` below).
* ``schema.json``: the draft-07 JSON Schema from ``@octokit/webhooks-schemas``, pruned to the
  per-action definitions of those events plus every definition they reference, transitively.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any, Iterator

EXAMPLES_PACKAGE = "@octokit/webhooks-examples@7.6.1"
SCHEMAS_PACKAGE = "@octokit/webhooks-schemas@7.6.1"

# The events Orca subscribes to, with the actions it cares about. None stands for events
# that carry no action (ping, status). Upstream has no issues.closed example: the schema keeps it.
WANTED: dict[str, tuple[str | None, ...]] = {
    "issues": ("labeled", "unlabeled", "closed", "reopened", "opened"),
    "issue_comment": ("created", "edited", "deleted"),
    "pull_request": ("opened", "closed", "reopened", "synchronize", "labeled"),
    "pull_request_review": ("submitted",),
    "pull_request_review_comment": ("created", "edited"),
    "pull_request_review_thread": ("resolved", "unresolved"),
    "installation": ("created", "deleted", "suspend", "unsuspend", "new_permissions_accepted"),
    "installation_repositories": ("added", "removed"),
    "ping": (None,),
    "check_suite": ("completed",),
    "check_run": ("completed",),
    "status": (None,),
}

DEFAULT_DEST = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "webhooks"


def tarball_name(spec: str) -> str:
    """The file ``npm pack`` writes for ``@scope/name@version``: ``scope-name-version.tgz``."""
    name, _, version = spec.lstrip("@").rpartition("@")
    return f"{name.replace('/', '-')}-{version}.tgz"


def npm_unpack(spec: str, workdir: Path, tarballs: Path | None = None) -> Path:
    """Unpack one package (``npm pack`` it, or take it from ``tarballs``) into workdir and
    return its ``package/`` folder."""
    if tarballs is not None:
        tarball = tarballs / tarball_name(spec)
    else:
        out = subprocess.run(
            ["npm", "pack", spec, "--json", "--pack-destination", str(workdir)],
            check=True, capture_output=True, text=True, cwd=workdir,
        )
        tarball = workdir / json.loads(out.stdout)[0]["filename"]
    target = workdir / tarball.stem
    with tarfile.open(tarball) as archive:
        archive.extractall(target, filter="data")
    return target / "package"


def definition_name(event: str, action: str | None) -> str:
    """The schema's definition key for one event/action (upstream spells ping as ``ping$event``)."""
    return f"{event}${action if action is not None else 'event'}"


def select_examples(index: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Keep the examples of WANTED events whose action is wanted, grouped by event."""
    chosen: dict[str, list[dict[str, Any]]] = {}
    for entry in index:
        actions = WANTED.get(entry["name"])
        if actions is None:
            continue
        chosen[entry["name"]] = [e for e in entry["examples"] if e.get("action") in actions]
    return chosen


def iter_refs(node: Any) -> Iterator[str]:
    """Yield every local ``$ref`` target name (``#/definitions/<name>``) found in node."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            yield ref.removeprefix("#/definitions/")
        for value in node.values():
            yield from iter_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from iter_refs(value)


def prune_schema(schema: dict[str, Any], roots: list[str]) -> dict[str, Any]:
    """Keep only the root definitions and their transitive references; root oneOf = roots."""
    definitions = schema["definitions"]
    keep: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in keep:
            continue
        keep.add(name)
        pending.extend(iter_refs(definitions[name]))
    return {
        "$schema": schema["$schema"],
        "oneOf": [{"$ref": f"#/definitions/{name}"} for name in roots],
        "definitions": {name: definitions[name] for name in sorted(keep)},
    }


def write_json(path: Path, data: Any) -> None:
    """Write compact but diffable JSON (one key per line would triple the size)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, separators=(",", ":"), sort_keys=False) + "\n")


def vendor(dest: Path, tarballs: Path | None = None) -> None:
    """Fetch (or take from ``tarballs``) both pinned packages and (re)write the vendored
    files under dest."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        examples_pkg = npm_unpack(EXAMPLES_PACKAGE, work, tarballs)
        schemas_pkg = npm_unpack(SCHEMAS_PACKAGE, work, tarballs)
        index = json.loads((examples_pkg / "api.github.com" / "index.json").read_text())
        schema = json.loads((schemas_pkg / "schema.json").read_text())
    for old in (dest / "examples").glob("*.json"):
        old.unlink()
    for event, examples in select_examples(index).items():
        write_json(dest / "examples" / f"{event}.json", examples)
    roots = [definition_name(e, a) for e, actions in WANTED.items() for a in actions]
    write_json(dest / "schema.json", prune_schema(schema, roots))


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    parser.add_argument("--tarballs", type=Path, help="a folder with the packed packages")
    args = parser.parse_args()
    vendor(args.dest, args.tarballs)


if __name__ == "__main__":
    main()
