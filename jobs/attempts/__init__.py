"""Attempts: several agents on one request, and the choice between them (jobs.run.attempts)."""
