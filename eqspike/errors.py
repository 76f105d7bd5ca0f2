"""The one base class of every failure a user can act on.

An :class:`EqspikeError` is an *expected* failure: bad data, a bad network or sweep file, a
damaged or missing run file, a bad argument, a full disk, a diverging run. The command line
prints its message as one line, ``eqspike: error: ...``, and exits with status 2 (so does
an :class:`OSError` the filesystem raises: a read-only folder, a full disk). Every other
exception is a programming error and keeps its traceback.

Each concern's error subclasses it (:class:`~eqspike.spec.SpecError`,
:class:`~eqspike.data.DataError`, :class:`~eqspike.runfile.RunFileError`,
:class:`~eqspike.energy.EnergyError`, :class:`~eqspike.training.TrainingDiverged`,
:class:`~eqspike.sweep.SweepError`); :class:`UsageError` is for arguments that do not fit
together.
"""

from __future__ import annotations

__all__ = ["EqspikeError", "UsageError"]


class EqspikeError(Exception):
    """An expected failure, with a message that says what is wrong and what to do."""


class UsageError(EqspikeError, ValueError):
    """Arguments that are invalid or do not fit together (a bad thread count, an option
    that a command cannot take with another)."""
