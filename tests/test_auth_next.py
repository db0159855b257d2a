"""Where sign-in may send a browser back to (`next`): a path on this site, nothing else."""

from __future__ import annotations

import pytest

from app.auth import MAX_NEXT, same_site_path

SAME_SITE = ["/", "/runs", "/runs?status=queued", "/runs?repository=octo-org%2Fhello",
             "/runs/abc123", "/runs/abc123/events", "/runs?installation=7&status=done",
             "/runs#top", "/a:b", "/.//evil.example"]  # the last resolves to a path on this site

HOSTILE = {
    "protocol-relative": ["//evil.example", "///evil.example", "//evil.example/runs",
                          "//user@evil.example", "//[::1]/", "//[evil"],
    "control characters (browsers drop tab, CR, LF)": [
        "/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "/\r/evil.example",
        "\t//evil.example", "/\x00/evil.example", "/\x1b/evil.example", "/\x7f/evil.example",
        "/runs\r\nSet-Cookie: orca_session=planted", "/runs\n"],
    "whitespace": [" //evil.example", "//evil.example ", "/ /evil.example", "/runs ",
                   "/\u00a0/evil.example", "/\u2028/evil.example", "/\u2029/evil.example",
                   "/\u3000/evil.example", "/\u1680/evil.example", "/\u200b/evil.example",
                   "\ufeff//evil.example", "/\u202e/evil.example", "/\u0085/evil.example"],
    "backslash (browsers read it as /)": ["/\\evil.example", "\\\\evil.example",
                                          "\\/evil.example", "/\\/evil.example", "/runs\\x"],
    "%-escaped": ["%2F%2Fevil.example", "/%2F%2Fevil.example", "/%2f%2fevil.example",
                  "/%2F/evil.example", "/%5Cevil.example", "/%5cevil.example", "/%09/evil.example",
                  "/%0A/evil.example", "/%0d%0a/evil.example", "/%00", "/%E2%80%A8/evil.example",
                  "/%C2%A0/evil.example", "/%ff", "%2Fruns"],
    "schemes": ["https://evil.example", "http://evil.example/runs", "https:evil.example",
                "http:/evil.example", "javascript:alert(1)", "JaVaScRiPt:alert(1)",
                "data:text/html,hi", "vbscript:msgbox", "file:///etc/passwd", "mailto:a@b"],
    "not a path": ["", "evil.example", "runs", "?next=//evil.example", "#x", ".", "..",
                   "\uff0f\uff0fevil.example", "/runs/\u00e9", "/" + "a" * MAX_NEXT],
}


@pytest.mark.parametrize("path", SAME_SITE)
def test_a_path_on_this_site_is_kept(path):
    assert same_site_path(path) == path


@pytest.mark.parametrize("value", [v for values in HOSTILE.values() for v in values],
                         ids=[f"{kind}: {v!r}" for kind, values in HOSTILE.items() for v in values])
def test_anything_else_is_refused(value):
    assert same_site_path(value) is None


def test_nothing_given_is_refused():
    assert same_site_path(None) is None
