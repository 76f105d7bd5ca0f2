"""The thread count of a run: part of what it is, like its seed.

One number, ``--threads N`` (or ``$EQSPIKE_THREADS``; default :data:`DEFAULT_THREADS`),
decides both kinds of threads a run uses:

* the compiled spiking simulation's OpenMP threads (Brian2's
  ``devices.cpp_standalone.openmp_threads``; 0: the plain sequential code), and
* the numerical libraries' threads (OpenBLAS, MKL or OpenMP under NumPy, through
  threadpoolctl): ``max(N, 1)``. They decide how a matrix product splits its sums, so the
  rate reference's results depend on them in the last bits, and a long run's accuracy by a
  few tenths of a point (measured, with the earlier initialiser: ``fmnist-conv`` 90.43%
  with 2 threads, 89.95% with 1).

Neither depends on the machine's core count, so one command gives the same weights on any
machine. The run file records the number (attribute ``threads``) and a resumed run uses it
again (:func:`resumed_threads`).
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from .errors import UsageError

__all__ = ["DEFAULT_THREADS", "resolve_threads", "resumed_threads", "blas_threads",
           "numerical_threads"]

#: Threads when neither the caller nor ``EQSPIKE_THREADS`` says: no OpenMP in the compiled
#: simulation (measured fastest on the default network; see docs/speed.md) and one thread
#: in the numerical libraries.
DEFAULT_THREADS = 0


def resolve_threads(threads: int | None = None) -> int:
    """``threads`` if given, else ``$EQSPIKE_THREADS`` if set, else :data:`DEFAULT_THREADS`;
    :class:`~eqspike.errors.UsageError` unless it is an integer >= 0."""
    if threads is None:
        env = os.environ.get("EQSPIKE_THREADS", "").strip()
        if not env:
            return DEFAULT_THREADS
        try:
            threads = int(env)
        except ValueError:
            raise UsageError(f"EQSPIKE_THREADS={env!r}: expected an integer >= 0 "
                             "(0: no OpenMP, one BLAS thread)") from None
        where = f"EQSPIKE_THREADS={env!r}"
    else:
        where = f"threads = {threads!r}"
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise UsageError(f"{where}: expected an integer >= 0 (0: no OpenMP, one BLAS thread)")
    return threads


def resumed_threads(recorded: int | None, requested: int | None) -> int:
    """The thread count a resumed run uses: the one it recorded (format-2 files recorded
    none: then ``requested`` or the default). ``requested`` may repeat it; another number
    is refused, since it would change the weights the run goes on to."""
    if recorded is None:
        return resolve_threads(requested)
    if requested is not None and resolve_threads(requested) != recorded:
        raise UsageError(f"this run was started with {recorded} thread(s) (--threads "
                         f"{recorded}); a resumed run keeps them, so that its weights are the "
                         "uninterrupted run's")
    return int(recorded)


def blas_threads(threads: int) -> int:
    """The numerical libraries' threads for a run of ``threads``: at least one."""
    return max(int(threads), 1)


@contextmanager
def numerical_threads(threads: int):
    """Limit NumPy's BLAS/OpenMP pools to :func:`blas_threads` while the block runs."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=blas_threads(threads)):
        yield
