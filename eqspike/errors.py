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

__all__ = ["EqspikeError", "UsageError", "shown"]


class EqspikeError(Exception):
    """An expected failure, with a message that says what is wrong and what to do."""


class UsageError(EqspikeError, ValueError):
    """Arguments that are invalid or do not fit together (a bad thread count, an option
    that a command cannot take with another)."""


def shown(value) -> str:
    """A value read from a TOML file, for a message, as the file wrote it: its kind and
    itself (``a boolean (true)``, ``a string ("2e-12")``, ``an integer (5)``), never a
    Python repr."""
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "a list", tuple: "a list", dict: "a table"}
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = '"' + value.replace('"', '\\"') + '"'
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(shown(v).split(" (", 1)[1][:-1] for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k} = {shown(v).split(' (', 1)[1][:-1]}"
                               for k, v in value.items()) + "}"
    else:
        text = str(value)
    return f"{kinds.get(type(value), type(value).__name__)} ({text})"
