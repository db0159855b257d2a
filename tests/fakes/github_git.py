"""Real git behind the fake: bare repositories on disk, served by ``git http-backend``."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from werkzeug.wrappers import Request, Response

# Fixed identity and dates keep the initial commits reproducible across runs.
_AUTHOR_ENV = {
    "GIT_AUTHOR_NAME": "Test User", "GIT_AUTHOR_EMAIL": "test-user@example.com",
    "GIT_COMMITTER_NAME": "Test User", "GIT_COMMITTER_EMAIL": "test-user@example.com",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
}
# Keep the user's own git configuration (signing, hooks, templates) out of the fake.
_ISOLATED_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent"}


def git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run git with an isolated configuration and return the finished process."""
    full_env = {**os.environ, **_ISOLATED_ENV, **(env or {})}
    return subprocess.run(["git", *args], cwd=cwd, env=full_env, check=check,
                          capture_output=True, text=True, timeout=60)


def create_bare_repo(path: Path, files: dict[str, str], default_branch: str) -> str:
    """Create a bare repository at ``path`` with one commit of ``files``; return its sha."""
    path.parent.mkdir(parents=True, exist_ok=True)
    git("init", "--bare", "--quiet", f"--initial-branch={default_branch}", str(path))
    # Receive-pack refuses to update the checked-out branch of non-bare repos only; a bare
    # repository needs http.receivepack for anonymous-looking CGI pushes (REMOTE_USER is set).
    git("config", "http.receivepack", "true", cwd=path)
    with tempfile.TemporaryDirectory(prefix="fake-gh-seed-") as tmp:
        work = Path(tmp)
        git("init", "--quiet", f"--initial-branch={default_branch}", str(work))
        for name, content in files.items():
            target = work / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        git("add", "--all", cwd=work)
        git("commit", "--quiet", "--allow-empty", "-m", "Initial commit", cwd=work, env=_AUTHOR_ENV)
        git("push", "--quiet", str(path), f"HEAD:refs/heads/{default_branch}", cwd=work)
    return rev_parse(path, default_branch) or ""


def commit_files(path: Path, branch: str, files: dict[str, str], message: str,
                 start: str | None = None, links: dict[str, str] | None = None) -> str:
    """Commit ``files`` (over the tree of ``start`` or the branch) to ``branch``; return the sha.

    ``links`` maps a path to a symbolic link's target, committed as a link. What a person's
    ``git push`` leaves behind, done on the bare repository directly.
    """
    with tempfile.TemporaryDirectory(prefix="fake-gh-push-") as tmp:
        work = Path(tmp)
        git("clone", "--quiet", "--branch", start or branch, str(path), str(work))
        for name, content in files.items():
            target = work / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        for name, pointed_at in (links or {}).items():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            (work / name).symlink_to(pointed_at)
        git("add", "--all", cwd=work)
        git("commit", "--quiet", "-m", message, cwd=work, env=_AUTHOR_ENV)
        git("push", "--quiet", str(path), f"HEAD:refs/heads/{branch}", cwd=work)
    return rev_parse(path, f"refs/heads/{branch}") or ""


def rev_parse(repo: Path, ref: str) -> str | None:
    """The commit sha ``ref`` names in ``repo``, or None if it does not exist."""
    done = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=repo, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def matching_refs(repo: Path, prefix: str) -> list[tuple[str, str]]:
    """``(full ref name, sha)`` of each ref whose name starts with ``refs/<prefix>``, by name."""
    out = git("for-each-ref", "--format=%(refname) %(objectname)", "--sort=refname",
              cwd=repo).stdout
    pairs = [tuple(line.split(" ", 1)) for line in out.splitlines() if line]
    return [(name, sha) for name, sha in pairs if name.startswith(f"refs/{prefix}")]


def delete_ref(repo: Path, ref: str) -> bool:
    """Delete ``refs/<ref>``; False when there is no such ref."""
    return git("update-ref", "-d", f"refs/{ref}", cwd=repo, check=False).returncode == 0 \
        and rev_parse(repo, f"refs/{ref}") is None


def branch_sha(repo: Path, branch: str) -> str | None:
    """The tip of ``refs/heads/<branch>``, or None."""
    return rev_parse(repo, f"refs/heads/{branch}")


def blob(repo: Path, ref: str, path: str) -> tuple[str, bytes] | None:
    """``(blob sha, content)`` of ``path`` at ``ref``, or None if there is no such file."""
    spec = f"{ref}:{path}"
    kind = git("cat-file", "-t", spec, cwd=repo, check=False)
    if kind.returncode != 0 or kind.stdout.strip() != "blob":
        return None
    sha = git("rev-parse", spec, cwd=repo).stdout.strip()
    content = subprocess.run(["git", "cat-file", "blob", sha], cwd=repo, check=True,
                             capture_output=True, env={**os.environ, **_ISOLATED_ENV}).stdout
    return sha, content


def commit_info(repo: Path, sha: str) -> dict[str, str]:
    """Author, committer, message, tree and parents of commit ``sha``."""
    fmt = "%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%T%x00%P%x00%B"
    fields = git("show", "-s", f"--format={fmt}", sha, cwd=repo).stdout.split("\x00")
    keys = ("author_name", "author_email", "author_date", "committer_name", "committer_email",
            "committer_date", "tree", "parents", "message")
    return dict(zip(keys, fields))


def _cgi_env(request: Request, project_root: Path, path_info: str, user: str) -> dict[str, str]:
    """The CGI environment ``git http-backend`` expects for ``request``."""
    env = {
        **os.environ, **_ISOLATED_ENV,
        "GIT_PROJECT_ROOT": str(project_root), "GIT_HTTP_EXPORT_ALL": "1",
        "REMOTE_USER": user, "REMOTE_ADDR": "127.0.0.1", "PATH_INFO": path_info,
        "REQUEST_METHOD": request.method, "QUERY_STRING": request.query_string.decode(),
        "CONTENT_TYPE": request.headers.get("Content-Type", ""),
        "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1",
    }
    if request.content_length is not None:
        env["CONTENT_LENGTH"] = str(request.content_length)
    if request.headers.get("Content-Encoding"):
        env["HTTP_CONTENT_ENCODING"] = request.headers["Content-Encoding"]
    if request.headers.get("Git-Protocol"):
        env["GIT_PROTOCOL"] = request.headers["Git-Protocol"]
    return env


def http_backend(request: Request, project_root: Path, path_info: str, user: str) -> Response:
    """Answer one smart-HTTP request with ``git http-backend`` run as a CGI program."""
    env = _cgi_env(request, project_root, path_info, user)
    body = request.get_data(cache=False)
    if request.content_length is None and request.headers.get("Transfer-Encoding") == "chunked":
        env["CONTENT_LENGTH"] = str(len(body))
    proc = subprocess.Popen(["git", "http-backend"], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdin is not None and proc.stdout is not None
    # Feed stdin from a thread: upload-pack may start answering before it has read everything,
    # and a full stdout pipe would otherwise deadlock against a full stdin pipe.
    threading.Thread(target=_feed, args=(proc.stdin, body), daemon=True).start()
    status, headers = _read_cgi_headers(proc.stdout)
    return Response(_stream(proc), status=status, headers=headers, direct_passthrough=True)


def _feed(stdin, body: bytes) -> None:  # type: ignore[no-untyped-def]
    """Write the request body to the CGI program and close its stdin."""
    try:
        stdin.write(body)
    except BrokenPipeError:  # the backend answered (e.g. with an error) without reading it all
        pass
    finally:
        try:
            stdin.close()
        except BrokenPipeError:
            pass


def _read_cgi_headers(stdout) -> tuple[int, list[tuple[str, str]]]:  # type: ignore[no-untyped-def]
    """Parse the CGI header block: ``Status:`` becomes the HTTP status, the rest headers."""
    status, headers = 200, []
    while True:
        line = stdout.readline().decode("latin-1").rstrip("\r\n")
        if not line:
            return status, headers
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split()[0])
        else:
            headers.append((name.strip(), value.strip()))


def _stream(proc: subprocess.Popen[bytes]) -> Iterator[bytes]:
    """Yield the CGI body in chunks, then reap the process."""
    assert proc.stdout is not None
    try:
        while chunk := proc.stdout.read(65536):
            yield chunk
    finally:
        proc.stdout.close()
        proc.wait(timeout=60)
