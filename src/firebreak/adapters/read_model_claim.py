"""One gateway process per read model file."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from firebreak.errors import ConfigError


def claim(path: Path) -> None:
    """Takes the read model at ``path`` for this process until it exits: an exclusive lock on
    ``<path>.lock``, whose descriptor stays open (the kernel releases it when the process ends,
    however it ends). A second gateway process given the same read model is refused, not let in
    to write the same file or drop it for a schema it does not know."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(path.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(f"another gateway process is using the read model {path}") from None
    _claimed.append(fd)


#: The descriptors of the locks :func:`claim` holds (kept open for the process's life).
_claimed: list[int] = []
