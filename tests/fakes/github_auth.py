"""How the fake GitHub tells an App from an installation from nobody.

App JWTs are checked the way GitHub documents them (RS256, ``iss`` the App id, ``exp`` at most
ten minutes ahead): https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import secrets
import string
import time
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.github_state import Token

# GitHub rejects JWTs whose expiry is more than ten minutes out; a little leeway for clock skew.
JWT_MAX_LIFETIME_S = 600
CLOCK_LEEWAY_S = 60
TOKEN_LIFETIME = dt.timedelta(hours=1)


@functools.cache
def private_key_pem() -> str:
    """One RSA key per process: generating RSA keys is slow enough to notice in tests."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


@functools.cache
def _public_key() -> rsa.RSAPublicKey:
    """The public half of ``private_key_pem()``."""
    key = serialization.load_pem_private_key(private_key_pem().encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.public_key()


@dataclass(frozen=True)
class Credentials:
    """What an ``Authorization`` header presented: kind is jwt, token, basic or none."""

    kind: str
    secret: str | None = None
    username: str | None = None


def parse_authorization(header: str | None) -> Credentials:
    """Classify an ``Authorization`` header without judging whether it is valid."""
    if not header:
        return Credentials("none")
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    scheme = scheme.lower()
    if scheme == "basic":
        try:
            username, _, password = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return Credentials("basic")
        return Credentials("basic", password, username)
    if scheme == "bearer" and value.count(".") == 2:
        return Credentials("jwt", value)
    if scheme in ("bearer", "token"):
        return Credentials("token", value)
    return Credentials("none")


def jwt_error(token: str, app_id: int) -> str | None:
    """Why ``token`` is not a valid JWT for App ``app_id``; None when it is."""
    try:
        claims = jwt.decode(
            token, _public_key(), algorithms=["RS256"], leeway=CLOCK_LEEWAY_S,
            options={"require": ["iat", "exp", "iss"], "verify_iss": False},
        )
    except jwt.PyJWTError as exc:
        return f"A JSON web token could not be decoded ({exc})"
    if str(claims["iss"]) != str(app_id):
        return "'Issuer' claim ('iss') must be an Integer"
    if claims["exp"] - time.time() > JWT_MAX_LIFETIME_S + CLOCK_LEEWAY_S:
        return "'Expiration time' claim ('exp') is too far in the future"
    if claims["iat"] > time.time() + CLOCK_LEEWAY_S:
        return "'Issued at' claim ('iat') must be an Integer representing a time in the past"
    return None


def new_token_string() -> str:
    """A random installation token: ``ghs_`` and 36 to 60 more characters.

    The length varies on purpose: GitHub says not to assume a fixed token length.
    """
    alphabet = string.ascii_letters + string.digits
    length = 36 + secrets.randbelow(25)
    return "ghs_" + "".join(secrets.choice(alphabet) for _ in range(length))


def token_expiry() -> dt.datetime:
    """When a token minted now expires (one hour, as on GitHub)."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + TOKEN_LIFETIME


def token_is_live(token: Token | None) -> bool:
    """Whether ``token`` exists and has not expired."""
    return token is not None and token.expires_at > dt.datetime.now(dt.timezone.utc)
