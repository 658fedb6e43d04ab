"""Reading the files a user hands lamport: regular files only, and without hanging.

A path on the command line, or a file inside a run directory, may be anything:
a FIFO (opening it for reading blocks until some writer comes), a directory, a
character device (``/dev/zero`` never ends), a socket, a symbolic link to any of
those. Every reader of a user's file opens it through :func:`open_regular`: it
opens with ``O_NONBLOCK`` (so a FIFO's open returns at once) and then asks
``fstat`` of the descriptor it holds what it opened, so no check-then-open race
lets a FIFO in; anything but a regular file is refused with
:class:`NotRegularFile`, an ``OSError`` whose ``strerror`` says what the path is
(``a FIFO, not a regular file``). Callers name the file and that reason in one
line, as they do for a missing file.

:func:`read_json` reads the JSON files lamport keeps (``run.json``,
``sweep.json``, grid files) with a size cap and a nesting cap: a JSON document
nested a thousand levels deep is malformed for lamport, never a
``RecursionError``.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import IO, Any

#: The largest JSON file lamport reads (``run.json`` of a 100,000-machine run is a few MB).
JSON_LIMIT = 64 * 2**20
#: The deepest nesting of lists and objects lamport accepts in a JSON file (its own use two).
JSON_DEPTH = 32


class NotRegularFile(OSError):
    """A path that names something other than a regular file; ``strerror`` says what."""


class TooLarge(OSError):
    """A file larger than its reader accepts; ``strerror`` says the limit."""


def _what(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "not a regular file"


def _refuse(path: str | Path, mode: int) -> NotRegularFile:
    what = _what(mode)
    reason = what if what == "not a regular file" else f"{what}, not a regular file"
    return NotRegularFile(errno.EINVAL, reason, str(path))


def open_fd(path: str | Path) -> int:
    """Open ``path`` for reading and return the descriptor, if it is a regular file.

    Raise :class:`NotRegularFile` for anything else (FIFO, directory, device, socket,
    a link to one of them), and OSError as ``open`` does (no such file, permission).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ENXIO, errno.EISDIR, errno.ENODEV, errno.EOPNOTSUPP):
            try:  # a socket (ENXIO) or the like: say what it is
                mode = os.stat(path).st_mode
            except OSError:
                raise exc from None
            raise _refuse(path, mode) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _refuse(path, mode)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular(
    path: str | Path,
    binary: bool = False,
    encoding: str | None = "utf-8",
    newline: str | None = None,
    errors: str | None = None,
) -> IO[Any]:
    """``open(path)`` for reading, text (``encoding``, ``newline``) or ``binary``, of a
    regular file only; raise as :func:`open_fd` does."""
    fd = open_fd(path)
    try:
        if binary:
            return os.fdopen(fd, "rb")
        return os.fdopen(fd, "r", encoding=encoding, newline=newline, errors=errors)
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: str | Path, limit: int | None = None) -> bytes:
    """The bytes of a regular file. Raise :class:`TooLarge` if it holds more than
    ``limit`` bytes, and as :func:`open_fd` does."""
    with open_regular(path, binary=True) as handle:
        if limit is None:
            return handle.read()
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(errno.EFBIG, f"larger than {limit:,} bytes", str(path))
    return data


def read_text(path: str | Path, limit: int | None = None) -> str:
    """The UTF-8 text of a regular file; raise UnicodeDecodeError (a ValueError) if
    it is not UTF-8, and as :func:`read_bytes` does."""
    return read_bytes(path, limit).decode("utf-8")


def depth(value: Any) -> int:
    """How deep lists and dicts nest in ``value`` (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((x, level + 1) for x in item if isinstance(x, list | dict))
    return deepest


def parse_json(text: str | bytes, max_depth: int = JSON_DEPTH) -> Any:
    """JSON text as Python values. Raise ValueError (one line) if it is malformed,
    nested deeper than ``max_depth`` or too deep for the parser."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise ValueError(str(exc).splitlines()[0] if str(exc) else "not JSON") from None
    if depth(value) > max_depth:
        raise ValueError(f"nested deeper than {max_depth} levels")
    return value


def read_json(path: str | Path, limit: int = JSON_LIMIT, max_depth: int = JSON_DEPTH) -> Any:
    """A regular file's JSON. Raise OSError as :func:`read_bytes` does (not a regular
    file, larger than ``limit``) and ValueError as :func:`parse_json` does (malformed,
    not UTF-8, too deep)."""
    data = read_bytes(path, limit)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    return parse_json(text, max_depth)


def reason(exc: OSError) -> str:
    """Why ``exc`` happened, in a few lower-case words: ``a FIFO, not a regular file``,
    ``no such file or directory``."""
    if isinstance(exc, NotRegularFile | TooLarge):
        return str(exc.strerror)
    return (exc.strerror or str(exc)).lower()
