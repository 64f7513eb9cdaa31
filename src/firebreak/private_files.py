"""Files and folders that hold secrets or user data are for the user who runs the cluster only.

The data folder holds the cluster config and nats.conf (the NATS and route passwords, the ops
token), the read model (password hashes, every message) and the log store. Folders are 0700 and
files 0600; the processes of a cluster also run with umask 077 (:data:`PRIVATE_UMASK`), so what
nats-server and SQLite create is private too.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
PRIVATE_UMASK = 0o077


def make_private_dir(path: Path) -> None:
    """Creates ``path`` (and its parents) if missing; ``path`` itself ends up 0700 either way, so
    a folder made by an older version is closed too."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    path.chmod(PRIVATE_DIR)


def write_private(path: Path, text: str) -> None:
    """Writes ``path`` with mode 0600 from its first byte (no moment where others may read it)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "w") as f:
        os.fchmod(fd, PRIVATE_FILE)  # an existing file keeps its old mode through O_CREAT
        f.write(text)
