"""Fixtures every test can use: real Redis, the fake GitHub, the fake model."""

from tests.redis_server import redis_client, redis_server  # noqa: F401
