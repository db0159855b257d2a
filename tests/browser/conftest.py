"""The browser fixtures every browser test shares (headless Chromium is defined with the
first browser test, `orca setup`'s; mission control's app on a real port with its own)."""

from tests.browser.test_mission_browser import mission  # noqa: F401
from tests.browser.test_setup_browser import chromium  # noqa: F401
