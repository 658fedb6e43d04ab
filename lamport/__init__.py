"""lamport: a laboratory for Lamport logical clocks."""

import sys as _sys

# Started as a command (``python -m lamport...``: sys.argv[0] is "-m" while runpy finds
# the module; or the ``lamport`` script), a signal from this first line on means exit
# 130 / 143 with one word and no traceback: SIGINT and SIGTERM are held at once (through
# _signal, which CPython loaded at start-up: no import runs first) until
# lamport.errors.quiet_start() installs that handler, then delivered to it; the command
# later arms handlers that let a run clean up (lamport.errors.run_cli). Imported as a
# library, nothing here touches signals.
if _sys.argv[:1] == ["-m"] or _sys.argv[0].rpartition("/")[2] == "lamport":
    import _signal

    _signal.pthread_sigmask(_signal.SIG_BLOCK, (_signal.SIGINT, _signal.SIGTERM))
    from lamport.errors import quiet_start as _quiet_start

    _quiet_start()

__version__ = "0.1.0"
