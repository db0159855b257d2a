"""Orca's reviews of pull requests, forks included: a read-only run that posts a GitHub review.

`diff` reads the pull request's diff from Orca's mirror and which lines GitHub would accept a
comment on; `findings` is the tool the model reports each finding with, validated here;
`session` runs setup, Orca's own test run and the agent in the sandbox, which holds the pull
request's head and no token; `words` is the review's body and the tracking comment's words;
`publish` posts the review and resolves Orca's threads that new commits fixed. Nothing here
pushes.
"""
