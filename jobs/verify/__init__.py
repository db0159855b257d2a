"""Verified pull requests: Orca runs the repository's tests itself, at the base commit and on
the agent's result, and says what the change did to them.

- `detect`: which command (`.github/orca.yml`'s `test`, or one found with confidence) and why
- `run`: run it in a sandbox; pass or fail, counts, per-test outcomes, duration, output tail
- `reports`, `summary`: per-test reports (JUnit XML, `go test -json`) and summary lines, read
  as hostile data
- `compare`: base against after (regressions, already failing, new, fixed) and the test files
  the change touched
- `words`: the Verification section of the pull request and the tracking comment
- `cache`: results at base commits, kept per repository on the worker's disk
- `results`: the types they share (`TestRun`, `Counts`)

A step package: it never imports the jobs composed from it (`jobs.run`, `jobs.steer`).
"""
