"""Counting windows and counter names for throttling password guesses and registrations.

Fixed windows: a counter counts the events of one window (``floor(now / length)``) and is named
after it, so no counter is ever reset: the next window simply has another name. Names are dotted
subject tokens of ``[_a-zA-Z0-9]`` (each counter is a subject of the counters' stream); a source
address is hashed, since IPv6 addresses (and whatever an ASGI server reports as the client)
contain characters a subject cannot hold.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    index: int
    #: Seconds until the next window starts (what a throttled client is told to wait).
    ends_in_s: float

    @property
    def retry_after_s(self) -> int:
        return max(1, math.ceil(self.ends_in_s))


def window_at(now_s: float, length_s: int) -> Window:
    index = math.floor(now_s / length_s)
    return Window(index=index, ends_in_s=(index + 1) * length_s - now_s)


def address_tag(address: str) -> str:
    """A key-safe, fixed-length name for a source address."""
    return hashlib.sha256(address.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def login_account_key(username: str, window: Window) -> str:
    """``username`` is a valid username (``a-z 0-9 _``), registered or not."""
    return f"login.acct.{username}.{window.index}"


def login_address_key(address: str, window: Window) -> str:
    return f"login.addr.{address_tag(address)}.{window.index}"


def register_address_key(address: str, window: Window) -> str:
    return f"reg.addr.{address_tag(address)}.{window.index}"
