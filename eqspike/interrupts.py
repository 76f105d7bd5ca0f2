"""Ctrl-C that is never lost.

Python raises ``KeyboardInterrupt`` wherever the main thread is when the signal arrives.
Where that is a finaliser or a weak-reference callback, Python prints "Exception ignored
in ..." and goes on: the interrupt is lost. Brian2 drops thousands of weak references each
time a runtime-mode network is built and freed, so a Ctrl-C during training landed there
often enough to fail a test on CI (the run then finished as if nobody had asked).

:func:`remembered_interrupts` wraps the SIGINT handler in place (Brian2's own, which lets
a run stop cleanly, or Python's) so that it first records the request, then does what it
did before. The training loop asks :meth:`InterruptRequests.check` between units of work:
a request the handler's exception could not carry out is honoured there, at the next
point where the run file is consistent. The lost ``KeyboardInterrupt`` itself is kept off
the terminal (``sys.unraisablehook``): the run ends with its one "interrupted" line.

A terminal's Ctrl-C also kills the compiled build's process; the standalone engine turns
Brian2's "Project run failed" into the interrupt
(:meth:`eqspike.engine.StandaloneEngine._run_binary`).

A process started with SIGINT ignored (a background job of a script, ``nohup ... &``) keeps
ignoring it: Brian2's handler replaces the ignore at import and then fails on the signal
with a ``TypeError`` (it calls the ``SIG_IGN`` it kept), so the block puts the ignore back.
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager


class InterruptRequests:
    """Whether SIGINT arrived since :func:`remembered_interrupts` began."""

    def __init__(self) -> None:
        self.requested = False

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` if an interrupt was asked for (and lost on its way)."""
        if self.requested:
            raise KeyboardInterrupt


@contextmanager
def remembered_interrupts():
    """Record every SIGINT while the block runs; yields its :class:`InterruptRequests`.

    Outside the main thread (a Dask worker), or where SIGINT is left to the system's
    default, nothing is installed and ``check`` never raises: no terminal can interrupt
    there, or the process dies at once. Where the process was started with SIGINT ignored
    (even if Brian2's handler has replaced the ignore since), SIGINT is ignored while the
    block runs. The previous handler is put back on exit."""
    requests = InterruptRequests()
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None \
            or previous == signal.SIG_DFL:
        yield requests
        return

    def record_then_interrupt(signum, frame):
        requests.requested = True
        previous(signum, frame)

    previous_hook = sys.unraisablehook

    def keep_lost_interrupts_quiet(unraisable):
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            requests.requested = True          # recorded by the handler already
        else:
            previous_hook(unraisable)

    ignored = _innermost(previous) == signal.SIG_IGN
    signal.signal(signal.SIGINT, signal.SIG_IGN if ignored else record_then_interrupt)
    sys.unraisablehook = keep_lost_interrupts_quiet
    try:
        yield requests
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = previous_hook


def _innermost(handler):
    """The handler a chain of wrappers began with: Brian2's keeps the one it replaced as
    ``previous_handler``."""
    while hasattr(handler, "previous_handler"):
        handler = handler.previous_handler
    return handler
