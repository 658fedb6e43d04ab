"""Things other than a regular file, put where a command expects one (tests of lamport.files
and of every reader of a user's file)."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

#: The kinds of non-regular file :func:`make_non_regular` makes, and what lamport calls them.
KINDS = {
    "fifo": "a FIFO, not a regular file",
    "directory": "a directory, not a regular file",
    "device": "a character device, not a regular file",
    "socket": "a socket, not a regular file",
    "link-to-fifo": "a FIFO, not a regular file",
}


def make_non_regular(path: Path, kind: str) -> Path:
    """Put a ``kind`` (one of :data:`KINDS`) of non-regular file at ``path``, replacing
    whatever is there; return ``path``."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "device":
        path.symlink_to("/dev/zero")
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()
    elif kind == "link-to-fifo":
        target = path.with_name(f".{path.name}.fifo")
        os.mkfifo(target)
        path.symlink_to(target)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return path
