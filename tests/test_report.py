from core.pricing import Usage, cost
from jobs.github import report
from jobs.workspace import issue_branch, slugify


def figures():
    usage = Usage(input_tokens=1000, output_tokens=500, cache_read_input_tokens=9000)
    return report.Figures(turns=4, usage=usage, cost=cost("claude-sonnet-5-5", usage), seconds=61)


def test_slug_and_branch():
    assert slugify("Fix the flaky test!") == "fix-the-flaky-test"
    assert slugify("Ünïcödé  & émoji 🚀") == "unicode-emoji"
    assert slugify("!!!") == "task"
    assert len(slugify("a" * 100)) == 40
    assert issue_branch(12, "Add a README") == "agent/issue-12-add-a-readme"


def test_cost_uses_cache_prices():
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000, cache_read_input_tokens=1_000_000,
                  cache_creation_input_tokens=1_000_000)
    assert cost("claude-sonnet-5-5", usage) == 3 + 15 + 0.3 + 3.75
    assert cost("some-other-model", usage) is None


def test_tracking_comment_states_carry_the_marker():
    for body in (report.working("r1", "octocat"),
                 report.opened("r1", 7, "http://x/pull/7", "did it", figures(), [], None),
                 report.no_changes("r1", "nothing to do", figures(), []),
                 report.failed("r1", "the model was down", "To retry, re-add the label.")):
        assert report.marker("r1") in body


def test_opened_and_failed_say_what_happened():
    body = report.opened("r1", 7, "http://x/pull/7", "Fixed it.\nRan tests.", figures(),
                         [".github/workflows/ci.yml"], None)
    assert body.startswith("✅ Opened #7: http://x/pull/7")
    assert "> Fixed it.\n> Ran tests." in body and "`.github/workflows/ci.yml`" in body
    assert "4 turns · 10,500 tokens (9,000 from cache) · $0.01 · 61 s" in body
    stopped = report.opened("r1", 7, "u", "", figures(), [], "the turn limit (3)")
    assert stopped.startswith("⏸️ Stopped by the turn limit (3)")
    failed = report.failed("r1", "the model API answered 529", "To retry, remove the label and add it again.")
    assert "529" in failed and "add it again" in failed


def test_pull_body_closes_the_issue():
    body = report.pull_body(5, "Changed x.", [], None, "octocat")
    assert body.startswith("Fixes #5\n")
    assert "Changed x." in body and "@octocat" in body


def test_the_comment_names_the_bounds_commands_ran_into():
    plain = figures()
    hit = report.Figures(plain.turns, plain.usage, plain.cost, plain.seconds,
                         {"out of memory (4 GiB)": 2})
    body = report.no_changes("r1", "gave up", hit, [])
    assert ("⚠️ Commands ran into the sandbox's bounds: out of memory (4 GiB) twice.\n\n"
            f"{plain.line()}") in body
    assert "bounds" not in report.no_changes("r1", "done", plain, [])


def test_footer_links_the_run_page_only_with_a_public_url():
    body = report.opened("r-1", 7, "https://github.test/o/r/pull/7", "Did it.", figures(), [], None)
    assert report.linked(body, "") == body  # without ORCA_PUBLIC_URL: unchanged
    assert "Run `r-1`\n" + report.marker("r-1") in body
    linked = report.linked(body, "https://orca.example.com/")
    assert "Run [`r-1`](https://orca.example.com/runs/r-1)\n" + report.marker("r-1") in linked
    assert report.linked(linked, "https://orca.example.com") == linked  # once only
    # A quoted summary that imitates a footer is no footer: its run id has no marker.
    fake = report.opened("r-2", 7, "u", "Run `other`", figures(), [], None)
    assert "(https://o.test/runs/other)" not in report.linked(fake, "https://o.test")


def test_pull_body_ends_with_the_run_page_when_known():
    assert "Run " not in report.pull_body(3, "s", [], None, "octocat")
    line = report.run_line("r 1", "https://orca.example.com")
    assert line == "Run [`r 1`](https://orca.example.com/runs/r%201)"
    assert report.pull_body(3, "s", [], None, "octocat", run=line).endswith(line)
    assert report.run_line("r1", "") == ""


def test_the_ci_line_goes_above_a_linked_footer_too():
    body = report.linked(report.opened("r-3", 7, "u", "Did it.", figures(), [], None),
                         "https://orca.example.org")
    shown = report.with_ci_line(body, f"CI: passing {report.CI_MARK}")
    assert shown.index("CI: passing") < shown.index("Run [`r-3`]")
    assert shown.endswith(report.marker("r-3"))
    again = report.with_ci_line(shown, f"CI: failing {report.CI_MARK}")
    assert "CI: passing" not in again and again.index("CI: failing") < again.index("Run [`r-3`]")
