"""One guard for every file eqspike writes: checked before the first write, never silently
replaced, never shared by two writers.

Every command names the files it will write (:class:`Output`: a path, what it is, and the
eqspike format it carries if it is an HDF5 file) and passes them all to
:func:`check_outputs` before it writes anything. A path is refused, in one line, when

* it is empty, names a folder (``runs/`` or an existing directory), or lies in a folder that
  cannot take a file;
* it holds an eqspike file of another kind (a run file, its ``RUN.latest.h5`` sidecar, a
  measured baseline, an energy-accuracy curve, a GDU file): such a file is never replaced
  by another kind, ``--overwrite`` or not (a sidecar's name included: a run named
  ``x.latest.h5`` is not the sidecar of ``x.h5``);
* it exists and ``--overwrite`` was not given;
* two outputs of one command are the same path.

A run file is also *claimed* (:func:`claim`) for as long as a process writes it: an
exclusive lock on a file named after the run's absolute path in eqspike's cache folder
(``$XDG_CACHE_HOME/eqspike/locks``), taken before the run's checks. A second process that
would write the same run (two ``eqspike train --out x.h5`` started together, or a
``--resume`` of a run that still trains) is refused instead of sharing it; the lock goes
with the process, however it ends. A new run file is then created exclusively (the
rename that puts it in place fails if another file appeared there meanwhile,
:func:`eqspike.runfile.atomic_write`).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import EqspikeError

__all__ = ["OutputError", "Output", "FORMATS", "file_format", "check_outputs", "check_output",
           "check_path_text", "claim", "lock_directory"]


class OutputError(EqspikeError, RuntimeError):
    """A path a command would write is refused (see the module docstring)."""


#: The eqspike HDF5 files by their ``format`` attribute (prefix): what each is.
FORMATS = {"eqspike-run-latest": "the latest-checkpoint sidecar of a run",
           "eqspike-run": "an eqspike run file",
           "eqspike-baseline": "a measured baseline",
           "eqspike-energy-vs-steps": "an energy-accuracy curve",
           "eqspike-gdu": "a GDU check file"}


@dataclass(frozen=True)
class Output:
    """A file a command will write: its path, what it is (for messages) and, for an eqspike
    HDF5 file, its format (:data:`FORMATS`; None for a figure or a table)."""

    path: Path
    what: str
    format: str | None = None
    hint: str = ""              # what else one can do with an existing one


def file_format(path) -> str | None:
    """The eqspike format of an existing file (a key of :data:`FORMATS`), or None when it
    is not an HDF5 file eqspike wrote."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            if handle.read(8) != b"\x89HDF\r\n\x1a\n":
                return None
    except OSError:
        return None
    import h5py

    try:
        with h5py.File(path, "r") as f:
            form = str(f.attrs.get("format", ""))
    except OSError:
        return None
    return next((key for key in FORMATS if form.startswith(key)), None)


def _same_kind(existing: str, written: str | None) -> bool:
    return written is not None and existing == next(
        (key for key in FORMATS if written.startswith(key)), written)


def _check_folder(path: Path, what: str) -> None:
    """The nearest existing folder above ``path`` takes a file (probed with a temporary
    file, removed at once; nothing is created)."""
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"{path}: cannot create the {what}, {folder} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".eqspike-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write in {folder} ({exc.strerror})") from None


def check_path_text(text: str, what: str) -> str:
    """A path as the user typed it (before :class:`~pathlib.Path` drops a trailing
    separator or reads an empty one as the current folder): not empty, not a folder's."""
    if not str(text).strip():
        raise OutputError(f"an empty path for the {what}; name a file")
    if str(text).endswith(("/", os.sep)):
        raise OutputError(f"{text}: names a folder; name the {what} itself")
    return str(text)


def check_output(output: Output, overwrite: bool = False) -> Path:
    """One output (see the module docstring); returns its path."""
    text, path, what = str(output.path), Path(output.path), output.what
    check_path_text(output.path if isinstance(output.path, str) else text, what)
    if path.is_dir():
        raise OutputError(f"{text}: names a folder; name the {what} itself (e.g. "
                          f"{path / ('run.h5' if output.format == 'eqspike-run' else 'out')})")
    if path.exists() or path.is_symlink():
        existing = file_format(path)
        if existing is not None and not _same_kind(existing, output.format):
            raise OutputError(f"{path}: holds {FORMATS[existing]}; eqspike does not replace "
                              f"it with the {what} (name another path)")
        if not overwrite:
            other = f"{output.hint}, or another path" if output.hint else "or another path"
            raise OutputError(f"{path}: exists; give --overwrite to replace the {what}, "
                              f"{other}")
    _check_folder(path, what)
    return path


def check_outputs(outputs, overwrite: bool = False) -> list:
    """Every output of a command, before its first write: each by :func:`check_output`,
    and no path twice. Returns their paths."""
    outputs = list(outputs)
    seen = {}
    for output in outputs:
        key = os.path.abspath(output.path)
        if key in seen:
            raise OutputError(f"{output.path}: the {seen[key]} and the {output.what} would "
                              "both be written there; name them apart")
        seen[key] = output.what
    return [check_output(output, overwrite) for output in outputs]


def lock_directory() -> Path:
    """Where the claims live: ``$XDG_CACHE_HOME/eqspike/locks`` (or ~/.cache/...)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "eqspike" / "locks"


@contextmanager
def claim(path, what: str = "run file"):
    """Hold an exclusive claim on ``path`` while the block runs (see the module
    docstring); :class:`OutputError` at once if another process holds it."""
    target = os.path.abspath(path)
    folder = lock_directory()
    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(target.encode()).hexdigest()[:32] + ".lock"
    handle = open(folder / name, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise OutputError(f"{path}: another eqspike process (pid {holder}) is writing this "
                              f"{what}; wait for it to end, or name another path") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield Path(path)
    finally:
        handle.close()
