"""lamport: a laboratory for Lamport logical clocks."""

import sys as _sys


def _run_as_command() -> bool:
    """Whether this process is a lamport command: ``python -m lamport...`` (sys.argv[0] is
    "-m" while runpy finds the module, which sys.orig_argv names) or the ``lamport``
    script; not another program that imports lamport."""
    if _sys.argv[:1] == ["-m"]:
        argv = getattr(_sys, "orig_argv", [])
        for i, word in enumerate(argv[1:], 1):
            if word.startswith("-m"):
                module = word[2:] or (argv[i + 1] if i + 1 < len(argv) else "")
                return module.partition(".")[0] == "lamport"
        return False
    return bool(_sys.argv) and _sys.argv[0].rpartition("/")[2] == "lamport"


# Run as a command, a signal from this first line on means exit 130 / 143 with one word
# and no traceback: SIGINT and SIGTERM are held at once (through _signal, which CPython
# loaded at start-up: no import runs first) until lamport.errors.quiet_start() installs
# that handler, then delivered to it; the command later arms handlers that let a run
# clean up (lamport.errors.run_cli). Imported as a library, nothing touches signals.
if _run_as_command():
    import _signal

    _signal.pthread_sigmask(_signal.SIG_BLOCK, (_signal.SIGINT, _signal.SIGTERM))
    from lamport.errors import quiet_start as _quiet_start

    _quiet_start()

__version__ = "0.1.0"
