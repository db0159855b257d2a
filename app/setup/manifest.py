"""What `orca setup` sends GitHub: the App manifest and the page it is posted to.

Pure functions only; the flow is GitHub's "register an App from a manifest":
https://docs.github.com/en/apps/sharing-github-apps/registering-a-github-app-from-a-manifest
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import yaml

# Package data beside this module, so that any install has it (pyproject.toml); the
# manifest.yml at the top of a checkout is a link to it.
DEFAULT_MANIFEST = Path(__file__).with_name("manifest.yml")
# manifest.yml's own webhook URL is this placeholder; the setup page asks the user to edit it.
PLACEHOLDER_HOST = "orca.example.com"


class ManifestError(Exception):
    """The manifest file is missing or is not a mapping; the message names the file."""


def load_manifest(path: Path = DEFAULT_MANIFEST) -> dict[str, Any]:
    """manifest.yml as a dict."""
    try:
        manifest = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ManifestError(f"cannot read the App manifest {path}: {exc.strerror}") from None
    if not isinstance(manifest, dict):
        raise ManifestError(f"{path} is not a YAML mapping")
    return manifest


def orca_origin(webhook_url: str) -> str:
    """`scheme://host[:port]` of Orca's public web server, from its webhook URL."""
    parts = urlsplit(webhook_url)
    return f"{parts.scheme}://{parts.netloc}"


def public_url(webhook_url: str | None) -> str:
    """Orca's public address (ORCA_PUBLIC_URL): the webhook URL up to its `/webhooks`;
    "" when there is none, or only manifest.yml's placeholder."""
    if not webhook_url or urlsplit(webhook_url).hostname == PLACEHOLDER_HOST:
        return ""
    head, found, _ = webhook_url.rstrip("/").rpartition("/webhooks")
    return head if found else ""


def build_manifest(base: dict[str, Any], callback_url: str,
                   webhook_url: str | None = None) -> dict[str, Any]:
    """`base` with the URLs of this setup run filled in (`base` is left untouched).

    `callback_url` is this setup page's /callback, where GitHub sends the browser back with
    the one-time code. Sign-in (`callback_urls`) and post-install setup (`setup_url`) live on
    Orca's own host, taken from the webhook URL; without one, manifest.yml's placeholder
    stays and the user edits it on the page.
    """
    manifest = copy.deepcopy(base)
    hook = dict(manifest.get("hook_attributes") or {})
    if webhook_url:
        hook["url"] = webhook_url
    hook.setdefault("url", f"https://{PLACEHOLDER_HOST}/webhooks")
    hook.setdefault("active", True)
    manifest["hook_attributes"] = hook
    origin = orca_origin(hook["url"])
    manifest["redirect_url"] = callback_url
    manifest["callback_urls"] = [f"{origin}/auth/callback"]
    manifest["setup_url"] = f"{origin}/"
    return manifest


def new_app_url(github_url: str, state: str, org: str | None = None) -> str:
    """The GitHub page that takes the posted manifest, for a personal account or `org`."""
    owner = f"/organizations/{quote(org, safe='')}" if org else ""
    return f"{github_url.rstrip('/')}{owner}/settings/apps/new?{urlencode({'state': state})}"


def install_url(html_url: str) -> str:
    """Where the new App is installed on accounts and repositories."""
    return f"{html_url.rstrip('/')}/installations/new"


def is_placeholder(manifest: dict[str, Any]) -> bool:
    """True while the webhook URL is still manifest.yml's placeholder."""
    return urlsplit(manifest["hook_attributes"]["url"]).hostname == PLACEHOLDER_HOST
