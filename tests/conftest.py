"""Fixtures every test can use: real Redis, the fake GitHub, the fake model, a "public" host
and a package index served on it.

Imported here once, so test modules name the fixtures as arguments and import nothing.
"""

from tests.fakes.github import fake_github  # noqa: F401
from tests.fakes.model import fake_model  # noqa: F401
from tests.hostile.public_host import public_host  # noqa: F401
from tests.package_index import package_index  # noqa: F401
from tests.redis_server import redis_client, redis_server  # noqa: F401
