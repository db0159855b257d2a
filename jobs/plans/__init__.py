"""Plans for issues: a read-only run that proposes how to do an issue, and its sub-tasks.

`tool` is the `submit_plan` tool the model reports its plan with, checked here (core.plans);
`session` runs the agent over the default branch in a sandbox with no token and no network;
`words` is what the model is told and every comment plans and their fleets show (pure).
Nothing here pushes; `/agent go` is the fast job in jobs.steer.plans.
"""
