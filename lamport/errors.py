"""The errors lamport reports to a user, and how a CLI turns them into exit status 2."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from types import FrameType
from typing import Any, NoReturn

EXIT_USAGE = 2
#: Exit statuses of a run stopped by a signal, as a shell reports them (128 + signal).
EXIT_SIGINT = 128 + signal.SIGINT
EXIT_SIGTERM = 128 + signal.SIGTERM


#: How the user invoked the running command, when the ``lamport`` command dispatched to
#: it: ``lamport des`` (or ``python -m lamport des``). Parsers name themselves so
#: (:class:`lamport.args.Parser`), and so do their usage lines and errors.
INVOKED_AS: ContextVar[str | None] = ContextVar("INVOKED_AS", default=None)


@contextlib.contextmanager
def invoked_as(prog: str) -> Iterator[None]:
    """While the body runs, the command's parsers call themselves ``prog``."""
    token = INVOKED_AS.set(prog)
    try:
        yield
    finally:
        INVOKED_AS.reset(token)


class LamportError(Exception):
    """A problem the user can fix: bad input, an unwritable path, a broken log."""


class ConfigError(LamportError, ValueError):
    """An invalid run configuration or experiment file."""


class LogError(LamportError):
    """A run directory or log file that is missing, malformed or breaks an invariant."""


class NetworkError(LamportError):
    """The real-time backend could not set up its sockets (port in use, peer never came up)."""


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM while a CLI runs, so cleanup runs as for Ctrl-C."""


class _Stop:
    """The CLI's SIGINT/SIGTERM handler: raise while the command's work runs, then only note.

    Raising only while ``armed`` closes the window in which a signal landing as
    the work finishes would escape every ``except`` and print a traceback: the
    work disarms the handler as its last step, inside the ``try``. A signal that
    lands while a module is being imported is sent again :data:`IMPORT_RETRY`
    seconds later instead: an exception raised inside an extension module's
    initialisation is printed by the module itself (numpy prints
    ``ImportError: _multiarray_umath failed to import``), not by us.
    """

    armed = False
    #: The signal that stopped the work, if one did.
    fired: int | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.armed:
            if _importing(frame):
                timer = threading.Timer(IMPORT_RETRY, os.kill, (os.getpid(), signum))
                timer.daemon = True
                timer.start()
                return
            self.armed = False  # a second signal while cleaning up is only noted
            self.fired = signum
            raise KeyboardInterrupt if signum == signal.SIGINT else Terminated


#: Seconds after which a signal that landed during an import is sent again.
IMPORT_RETRY = 0.01


def _importing(frame: FrameType | None) -> bool:
    """Whether ``frame`` runs inside the import system (a module being imported)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib._bootstrap"):
            return True
        frame = frame.f_back
    return False


_stop = _Stop()


def _exit_quietly(signum: int, _frame: FrameType | None) -> None:
    # nothing to clean up yet: one word, no traceback, no buffered output to lose
    os.write(2, b"interrupted\n" if signum == signal.SIGINT else b"terminated\n")
    os._exit(128 + signum)


def quiet_start() -> None:
    """Make SIGINT and SIGTERM exit at once with 130 / 143, one word and no traceback.

    Run as a command, ``lamport/__init__.py`` calls this at its first line (holding
    both signals until then), and so does each CLI's ``__main__`` before its imports;
    a signal during start-up ends the process quietly. :func:`run_cli` then arms the
    handlers that let a run clean up. Signals held until now are delivered here.
    """
    signal.signal(signal.SIGINT, _exit_quietly)
    signal.signal(signal.SIGTERM, _exit_quietly)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGINT, signal.SIGTERM))


@contextlib.contextmanager
def stops_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while the body runs, then act on the first that came:
    the handler in place before runs as if the signal came then. For a step that must
    not stop half-way (starting a Dask LocalCluster: one left half-started prints
    tracebacks at exit). Only the main thread handles signals: elsewhere nothing is
    held."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    stops = (signal.SIGINT, signal.SIGTERM)
    before = {signum: signal.getsignal(signum) for signum in stops}
    for signum in stops:
        signal.signal(signum, lambda number, _frame: caught.append(number))
    try:
        yield
    finally:
        for signum, handler in before.items():
            # None: a handler set outside Python, which Python cannot put back
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        if caught:
            signal.raise_signal(caught[0])


def _keep_lost_stop(hook: Callable[[Any], None], unraisable: Any) -> None:
    """``sys.unraisablehook`` while a CLI runs: a stop the handler raised where Python
    drops exceptions (see :func:`raise_pending_stop`) is not printed as "Exception
    ignored in ..."; it stays pending. Everything else goes to ``hook``."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt | Terminated):
        return
    hook(unraisable)


def raise_pending_stop() -> None:
    """Raise the stop that :func:`run_cli`'s handler raised but that never arrived.

    Python runs a signal handler between any two bytecodes, also inside code whose
    exceptions are printed and dropped (a garbage-collector callback, such as the
    one dask.distributed installs, or a ``__del__``): the KeyboardInterrupt is then
    lost and the handler disarmed. A long loop calls this between its steps, so it
    stops anyway. Outside :func:`run_cli`, nothing is ever pending."""
    if _stop.fired == signal.SIGINT:
        raise KeyboardInterrupt
    if _stop.fired == signal.SIGTERM:
        raise Terminated


def write_failure(exc: OSError) -> str:
    """Why a write failed, in a few lower-case words: ``no space left on device``,
    ``file too large`` (a file-size limit, ``ulimit -f``)."""
    if exc.errno == errno.EFBIG:
        return "file too large"
    return (exc.strerror or str(exc)).lower()


def fail(message: str) -> NoReturn:
    """Print a one-line error and exit with status 2."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Call a CLI main; turn a LamportError into one line on stderr and exit status 2.

    SIGINT and SIGTERM raise KeyboardInterrupt and :class:`Terminated` in the
    main thread, so half-written output is removed on the way out; the CLI then
    says so in one line and exits 130 or 143. (A CLI may install handlers of
    its own, as the real-time one does to stop its run cleanly.)
    """
    main_thread = threading.current_thread() is threading.main_thread()
    _stop.fired = None
    if main_thread:
        before = signal.signal(signal.SIGINT, _stop)
        before_term = signal.signal(signal.SIGTERM, _stop)
        _stop.armed = True
    before_hook = sys.unraisablehook
    sys.unraisablehook = functools.partial(_keep_lost_stop, before_hook)
    try:
        status = main(argv) or 0
        _stop.armed = False  # done: a signal from here on cannot undo the work
        return status
    except LamportError as exc:
        _stop.armed = False
        fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except KeyboardInterrupt:
        return _stopped("interrupted", EXIT_SIGINT)
    except Terminated:
        return _stopped("terminated", EXIT_SIGTERM)
    except Exception:
        # A stop raised inside code that turned it into another error (an import
        # interrupted half-way reports a TypeError): it is still the stop.
        if _stop.fired == signal.SIGINT:
            return _stopped("interrupted", EXIT_SIGINT)
        if _stop.fired == signal.SIGTERM:
            return _stopped("terminated", EXIT_SIGTERM)
        raise
    finally:
        _stop.armed = False
        _stop.fired = None  # handled: nothing is pending for whatever runs next
        sys.unraisablehook = before_hook
        # A CLI process keeps the noting handler to the end (exiting from a
        # handler would lose buffered output); a caller in Python gets its own back.
        if main_thread and before is not _exit_quietly:
            signal.signal(signal.SIGINT, before)
            signal.signal(signal.SIGTERM, before_term)


def _stopped(what: str, status: int) -> int:
    print(what, file=sys.stderr)
    return status
