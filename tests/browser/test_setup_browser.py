"""`orca setup` in a real headless Chromium: open the page, click the button, land registered.

GitHub's own "new App" page is stood in for by a tiny WSGI app (below) that does what GitHub
does once the user confirms: it redirects the browser to the manifest's `redirect_url` with a
one-time code and the `state` it was given. The code exchange then goes to the fake GitHub's
REST API, checked against GitHub's OpenAPI description.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from dotenv import dotenv_values
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from app.setup import create_setup_app
from tests.fakes.github import FakeGitHub
from tests.serving import Background

CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CODE = "browser-manifest-code"


class NewAppPage:
    """GitHub's `/settings/apps/new`, reduced to its redirect; remembers what was posted."""

    def __init__(self, fake: FakeGitHub) -> None:
        self.fake = fake
        self.posted: list[dict[str, Any]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.method != "POST" or request.path != "/settings/apps/new":
            return Response("not here", status=404)(environ, start_response)
        manifest = json.loads(request.form["manifest"])
        self.posted.append(manifest)
        self.fake.add_manifest_code(CODE)
        query = urlencode({"code": CODE, "state": request.args["state"]})
        return Response(status=302, headers={"Location": f"{manifest['redirect_url']}?{query}"})(
            environ, start_response)


@contextmanager
def _serve(app: Any) -> Iterator[str]:
    """Serve a WSGI app on a free loopback port; yields its base URL."""
    serving = Background(make_server("127.0.0.1", 0, app, threaded=True), "browser-test-app")
    try:
        yield serving.url
    finally:
        serving.stop()


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium driven by Debian's chromedriver (`bash .ci/run` installs both)."""
    if not CHROMEDRIVER.exists() or shutil.which("chromium") is None:
        missing = "Debian packages chromium and chromium-driver are not installed"
        if os.environ.get("CI"):
            pytest.fail(f"{missing}, though .ci/run installs them")  # CI must run this test
        pytest.skip(f"{missing} (bash .ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
                 "--window-size=1000,1200"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def github_web(fake_github: FakeGitHub) -> Iterator[tuple[str, NewAppPage]]:
    page = NewAppPage(fake_github)
    with _serve(page) as url:
        yield url, page


def test_register_in_a_browser(chromium, fake_github, github_web, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    github_url, new_app_page = github_web
    out_dir = tmp_path / "orca"
    out_dir.mkdir()
    setup = create_setup_app(github_url, out_dir, api_url=fake_github.api_url,
                             webhook_url="https://orca.example.org/webhooks")
    with _serve(setup) as setup_url:
        chromium.get(f"{setup_url}/")
        ARTIFACTS.mkdir(exist_ok=True)
        chromium.save_screenshot(str(ARTIFACTS / "setup-register.png"))
        chromium.find_element(By.ID, "register-button").click()
        install = WebDriverWait(chromium, 20).until(
            expected_conditions.presence_of_element_located((By.ID, "install")))
        install_url = f"{fake_github.app_json()['html_url']}/installations/new"
        assert install.text == install_url and install.get_attribute("href") == install_url
        chromium.save_screenshot(str(ARTIFACTS / "setup-registered.png"))

    assert new_app_page.posted[0]["redirect_url"] == f"{setup_url}/callback"
    assert new_app_page.posted[0]["hook_attributes"]["url"] == "https://orca.example.org/webhooks"
    env = dotenv_values(out_dir / ".env")
    assert env["GITHUB_APP_ID"] == str(fake_github.app_id)
    assert (out_dir / env["GITHUB_PRIVATE_KEY_PATH"]).read_text() == fake_github.private_key_pem
    assert len(fake_github.calls_to("POST", f"/app-manifests/{CODE}/conversions$")) == 1
    assert fake_github.violations == []
