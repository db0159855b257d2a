"""The browser fixtures every browser test shares (headless Chromium is defined with the
first browser test, `orca setup`'s)."""

from tests.browser.test_setup_browser import chromium  # noqa: F401
