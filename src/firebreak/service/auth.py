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
import functools
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import TypeVar

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from firebreak.errors import Unauthorized, Unavailable

T = TypeVar("T")


class Passwords:
    """argon2id hashing, off the event loop and bounded.

    Each hash takes ``memory_kib`` of memory (default 64 MiB, ~50 ms). Without a bound a burst of
    logins runs one per pool thread and a gateway's memory jumps by hundreds of MiB; two at a time
    keeps it near 128 MiB and still uses both cores. The cost parameters are configurable
    (``[limits]`` in the config); a hash records its own parameters, so changing them never locks
    anyone out: old hashes still verify.

    At most ``queue_max`` hashes wait for a slot; one more is refused at once with 503 ``busy``
    (a flood of logins would otherwise make every login, the real ones too, wait behind it).
    """

    SLOTS = 2

    def __init__(
        self, time_cost: int = 3, memory_kib: int = 64 * 1024, parallelism: int = 4, queue_max: int = 16
    ) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        self._queue_max = queue_max
        self._waiting = 0
        # Created lazily: a semaphore and a lock must belong to the running event loop.
        self._slots: asyncio.Semaphore | None = None
        self._dummy_made: asyncio.Lock | None = None
        self._dummy: str | None = None

    async def _run(self, fn: Callable[[], T]) -> T:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.SLOTS)
        if self._slots.locked() and self._waiting >= self._queue_max:
            raise Unavailable(
                "this gateway is busy checking passwords; retry shortly or use another DC",
                code="busy",
                retry_after_s=1,
            )
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            return await asyncio.to_thread(fn)
        finally:
            self._slots.release()

    async def hash(self, password: str) -> str:
        return await self._run(functools.partial(self._hasher.hash, password))

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches ``password_hash``. With None (no such user) it verifies
        against a dummy hash of the same cost and answers False: an unknown username takes as
        long as a wrong password, so timing does not tell which usernames exist."""
        if password_hash is None:
            password_hash = await self._dummy_hash()

        def check() -> bool:
            try:
                return bool(self._hasher.verify(password_hash, password))
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        return await self._run(check) and password_hash != self._dummy

    async def _dummy_hash(self) -> str:
        if self._dummy_made is None:
            self._dummy_made = asyncio.Lock()
        async with self._dummy_made:
            if self._dummy is None:
                self._dummy = await self.hash(secrets.token_urlsafe(24))
        return self._dummy


class TokenClaims(msgspec.Struct, frozen=True):
    """What a token says. One-letter names on the wire keep tokens short."""

    user_id: str = msgspec.field(name="u")
    session_id: str = msgspec.field(name="s")
    #: Expiry, seconds since the epoch.
    expires_at: int = msgspec.field(name="e")
    #: Issued at, milliseconds since the epoch (the session's start). 0 in tokens made before
    #: sessions were recorded in the log: those are refused (service/accounts.py).
    issued_at: int = msgspec.field(default=0, name="i")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


#: Tokens whose signature a gateway remembers having checked (a few hundred bytes each): a live
#: socket's commands and a client's requests present the same token again and again, and its HMAC,
#: base64 and JSON cost more than the rest of a send's checks (docs/PERFORMANCE.md).
VERIFIED_KEPT = 16_384


class Tokens:
    def __init__(self, key: bytes, ttl_s: int) -> None:
        self._key = key
        self._ttl_s = ttl_s
        # Only a token that verifies is remembered (a refusal raises, and lru_cache keeps no
        # exception), so forged tokens cannot crowd out real ones; the expiry is checked at every use.
        self._signed = functools.lru_cache(maxsize=VERIFIED_KEPT)(self._check_signature)

    def issue(self, user_id: str) -> tuple[str, TokenClaims]:
        now = time.time()
        claims = TokenClaims(
            user_id=user_id,
            session_id=secrets.token_hex(12),
            expires_at=int(now) + self._ttl_s,
            issued_at=max(1, int(now * 1000)),
        )
        payload = _b64(msgspec.json.encode(claims))
        mac = _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())
        return f"fbt1.{payload}.{mac}", claims

    def verify(self, token: str) -> TokenClaims:
        """Checks the signature and expiry (not revocation: that needs the read model)."""
        claims = self._signed(token)
        if claims.expires_at < time.time():
            raise Unauthorized("token expired; log in again", code="token_expired")
        return claims

    def _check_signature(self, token: str) -> TokenClaims:
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
        return claims
