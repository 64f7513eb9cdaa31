"""Passwords and tokens.

Passwords are hashed with argon2id. A token is ``fbt1.<payload>.<mac>``: the payload names the
user, the session and the expiry, and the MAC is HMAC-SHA256 with the cluster's signing key. The key
lives in the replicated KV bucket (never in one DC's files), so a token issued in one DC is valid in
every DC. Each login appends ``SessionStarted`` and each logout, log out everywhere or password
change ends sessions in the log; every DC's read model learns it, and authentication
(service/accounts.py) consults it after :meth:`Tokens.verify`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from firebreak.errors import Unauthorized


class Passwords:
    """argon2id hashing, off the event loop and bounded.

    Each hash takes ``memory_kib`` of memory (default 64 MiB, ~50 ms). Without a bound a burst of
    logins runs one per pool thread and a gateway's memory jumps by hundreds of MiB; two at a time
    keeps it near 128 MiB and still uses both cores. The cost parameters are configurable
    (``[limits]`` in the config); a hash records its own parameters, so changing them never locks
    anyone out: old hashes still verify.
    """

    SLOTS = 2

    def __init__(self, time_cost: int = 3, memory_kib: int = 64 * 1024, parallelism: int = 4) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        # Created lazily: a semaphore must belong to the running event loop.
        self._slots: asyncio.Semaphore | None = None

    def _gate(self) -> asyncio.Semaphore:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.SLOTS)
        return self._slots

    async def hash(self, password: str) -> str:
        async with self._gate():
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        def check() -> bool:
            try:
                return bool(self._hasher.verify(password_hash, password))
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        async with self._gate():
            return await asyncio.to_thread(check)


class TokenClaims(msgspec.Struct, frozen=True):
    u: str  # user id
    s: str  # session id
    e: int  # expiry, seconds since the epoch
    #: Issued at, milliseconds since the epoch (the session's start). 0 in tokens made before
    #: sessions were recorded in the log: those are refused (service/accounts.py).
    i: int = 0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Tokens:
    def __init__(self, key: bytes, ttl_s: int) -> None:
        self._key = key
        self._ttl_s = ttl_s

    def issue(self, user_id: str) -> tuple[str, TokenClaims]:
        now = time.time()
        claims = TokenClaims(
            u=user_id, s=secrets.token_hex(12), e=int(now) + self._ttl_s, i=max(1, int(now * 1000))
        )
        payload = _b64(msgspec.json.encode(claims))
        mac = _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())
        return f"fbt1.{payload}.{mac}", claims

    def verify(self, token: str) -> TokenClaims:
        """Checks the signature and expiry (not revocation: that needs the read model)."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != "fbt1":
            raise Unauthorized("malformed token", code="invalid_token")
        expected = _b64(hmac.new(self._key, parts[1].encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, parts[2]):
            raise Unauthorized("token signature does not verify", code="invalid_token")
        try:
            claims = msgspec.json.decode(_unb64(parts[1]), type=TokenClaims)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            raise Unauthorized("malformed token", code="invalid_token") from exc
        if claims.e < time.time():
            raise Unauthorized("token expired; log in again", code="token_expired")
        return claims
