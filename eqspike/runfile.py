"""The HDF5 run file: the one interface between training and every analysis.

Layout (``format_version`` 3, :data:`FORMAT_VERSION`; a checkpoint's arrays keep the dtype
they were trained in, every other array is float64 unless said; every dataset but a
scalar carries an HDF5 Fletcher-32 checksum, verified on each read)::

    /                       attrs: format="eqspike-run", format_version, path ("spiking" |
                                   "rate"), network (name), seed, created, status
                                   ("running" | "complete"), versions (JSON: python,
                                   brian2, numpy, h5py, eqspike), test_samples (the
                                   test images each epoch is evaluated on, 0: all; a
                                   resumed run reuses it), threads (the run's thread
                                   count, :mod:`eqspike.threads`; a resumed run reuses
                                   it), method (rate runs: ep | bptt), and for a sweep's
                                   point sweep, sweep_point
    /network                attrs: toml (the network definition as run, TOML text),
                                   toml_sha256 (its SHA-256, checked on each read)
    /checkpoints/initial    W_pre_post per edge of the graph (W_0_1 (n0, n1), W_1_2, ...,
                            a skip coupling W_1_3), b_1 (n1,), b_2 ...
    /checkpoints/epoch_0001 ... one group per finished epoch; attrs: epoch, samples_seen
    /metrics                datasets of one row per finished epoch:
                            epoch (int), train_accuracy, test_accuracy, train_seconds
                            (the training that produced the weights: the wall time of
                            the chunks whose results were kept, resumed stretches
                            included, start-up and lost work not),
                            eval_seconds, train_samples (int), test_images (int: the
                            images test_accuracy covers; -1 in format 1 files)
    /events                 spikes per sample, one row per epoch: for each layer and each part
                            of a sample (attrs: phases = free_quiet, free_window, nudged;
                            rows = the R row labels): train_mean, train_std (E, R, 3) over
                            the epoch's training samples; eval_mean, eval_std (E, R, 3) over
                            the test samples. R = L, then for each conv edge the events its
                            pre and post layer's spikes sent through it
                            (:func:`eqspike.conv.reach_rows`)
    /plasticity             only with STDP logging (``eqspike train --log-synapses N``);
                            attrs: dt_range, max_events, lr_w_initial;
                            pre_K, post_K (N,) int: the logged synapses of edge K
                            (its index in [network] edges)
    /plasticity/epoch_0001  per finished epoch, for each edge K:
                            events_K (structured, <= max_events rows: a uniform sample of
                            the epoch's weight changes; fields in stdp_log.EVENT_DTYPE),
                            n_events_K (total changes that epoch), window_K (2, 2, B, 3):
                            [nearest|last other spike, sign -|+, Δt bin, count|sum|sumsq]
                            of every change, trajectory_K (C+1, N) logged weights at the
                            epoch's start and after each of its C chunks, samples_K (C+1,)

Beside it, ``RUN.latest.h5`` (a *sidecar*, attrs format="eqspike-run-latest") holds the
state after the last finished chunk, the point a resumed run continues from:
``/checkpoints/latest`` with attrs epoch (0-based, in progress), chunk (chunks done in that
epoch) and samples_seen, and ``/progress`` with what the epoch's metrics have counted so
far (attrs correct, seen, train_seconds; arrays events_n, events_total, events_squares),
so that a resumed epoch reports what an uninterrupted one would. Commands that take run
files skip sidecars (:func:`run_paths`), so ``runs/*.h5`` works.

Weights are stored (n_pre, n_post): ``W_l_m[i, j]`` couples neuron i of layer l to neuron
j of layer m (input layer 0).

Crash safety: no file is ever modified in place. Every write goes to a copy that is
flushed to disk and then renamed over the original (``os.replace``, atomic on POSIX), so a
run killed at any moment -- even during a write -- leaves both files as they were before or
after that write, never half-written.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .conv import event_row_labels, event_rows
from .errors import EqspikeError, UsageError
from .schedule import EVENT_PHASES

__all__ = ["FORMAT", "FORMAT_VERSION", "RunFileError", "Checkpoint", "Run", "create_run",
           "write_latest", "read_progress", "finish_epoch", "set_status", "extend_epochs",
           "read_run", "read_group", "versions", "latest_path", "resumed_test_samples",
           "is_sidecar", "run_paths", "check_new_run", "atomic_write", "first_non_finite",
           "remove_stale_temporaries", "run_outputs", "check_extension"]

FORMAT = "eqspike-run"
FORMAT_VERSION = 3
METRIC_FIELDS = ("epoch", "train_accuracy", "test_accuracy", "train_seconds", "eval_seconds",
                 "train_samples", "test_images")
#: Metric fields a format-1 file lacks, and what reading one fills them with.
ADDED_METRICS = {"test_images": -1}
INTEGER_METRICS = ("epoch", "train_samples", "test_images")
EVENT_FIELDS = ("train_mean", "train_std", "eval_mean", "eval_std")


class RunFileError(EqspikeError, RuntimeError):
    """A run file is missing, not HDF5, not an eqspike run file, lacks a field, is damaged
    (a checksum fails), holds non-finite parameters, or cannot be written."""


#: Where a checkpoint group keeps the optimiser state (rate reference: SGD momentum, Adam's
#: moments), one dataset per array: ``opt/NAME/K``.
OPTIMIZER_PREFIX = "opt/"


@dataclass
class Checkpoint:
    """One checkpoint: the parameters by name (``W_pre_post``, ``b_l``; the rate reference's
    read-out ``W_out``, ``b_out``), its attrs, and the optimiser state that an exact resume
    needs (``{NAME/K: array}``; empty for the spiking engine, whose rule keeps none)."""

    params: dict
    attrs: dict = field(default_factory=dict)
    optimizer: dict = field(default_factory=dict)
    #: (pre, post) of each edge of the run's graph, in the order of ``[network] edges``
    #: (set by :func:`read_run`); None: the dense chain W_0_1, W_1_2, ...
    edges: tuple | None = None

    @property
    def weights(self) -> list:
        """The weight of every edge of the graph (``W_pre_post``), in the order of
        ``[network] edges``: the form the spiking engine takes."""
        if self.edges is not None:
            # the rate reference's cross-entropy read-out stores its edge as W_out
            return [self.params.get(f"W_{pre}_{post}", self.params.get("W_out"))
                    if k == len(self.edges) - 1 else self.params[f"W_{pre}_{post}"]
                    for k, (pre, post) in enumerate(self.edges)]
        out, k = [], 0
        while f"W_{k}_{k + 1}" in self.params:
            out.append(self.params[f"W_{k}_{k + 1}"])
            k += 1
        return out

    @property
    def feedback(self) -> list | None:
        """Per edge its own feedback weights ``B_pre_post`` (one-way couplings, in the
        order of ``[network] edges``; None for an edge without), or None if no edge has
        any."""
        if self.edges is None:
            return None
        out = [self.params.get(f"B_{pre}_{post}") for pre, post in self.edges]
        return out if any(b is not None for b in out) else None

    @property
    def biases(self) -> list:
        """b_1, b_2, ... in order."""
        out, k = [], 1
        while f"b_{k}" in self.params:
            out.append(self.params[f"b_{k}"])
            k += 1
        return out

    def require_finite(self, where: str) -> "Checkpoint":
        """This checkpoint, or :class:`RunFileError` naming ``where`` (the file and the
        checkpoint) and the first parameter holding a NaN or an infinity."""
        found = first_non_finite({**self.params, **{OPTIMIZER_PREFIX + k: v for k, v in
                                                     self.optimizer.items()}})
        if found:
            raise RunFileError(f"{where}: {found[0]} holds {found[1]} non-finite value(s) "
                               "(NaN or inf); this checkpoint cannot be used")
        return self


def first_non_finite(arrays: dict) -> tuple | None:
    """(name, how many) of the first float array in ``arrays`` holding a NaN or an
    infinity; None if every value is finite."""
    for name, value in arrays.items():
        value = np.asarray(value)
        if value.dtype.kind == "f":
            bad = int(value.size - np.count_nonzero(np.isfinite(value)))
            if bad:
                return name, bad
    return None


@dataclass
class Run:
    """A run file read back: everything an analysis needs, as NumPy arrays."""

    path: Path
    attrs: dict
    network_toml: str
    checkpoints: dict          # name -> Checkpoint
    metrics: dict              # field -> (E,) array
    events: dict               # field -> (E, L, 3) array

    @property
    def engine(self) -> str:
        """The engine that wrote the run: "spiking" or "rate" (attribute ``path``; files
        older than the rate reference have none and are spiking)."""
        return str(self.attrs.get("path", "spiking"))

    @property
    def spec(self):
        from .spec import spec_from_toml

        return spec_from_toml(self.network_toml, name=self.attrs.get("network", "run"),
                              stored=True)

    @property
    def final_name(self) -> str:
        """The name of the last finished epoch's checkpoint (else ``"initial"``)."""
        epochs = sorted(k for k in self.checkpoints if k.startswith("epoch_"))
        return epochs[-1] if epochs else "initial"

    @property
    def final(self) -> Checkpoint:
        """The last finished epoch's checkpoint (else the initial one)."""
        return self.checkpoints[self.final_name]

    def checkpoint(self, name: str | None = None) -> Checkpoint:
        """Checkpoint ``name`` (default: :attr:`final_name`) for use: :class:`RunFileError`
        if the file has none of that name or if it holds a NaN or an infinity."""
        name = name or self.final_name
        if name not in self.checkpoints:
            raise RunFileError(f"{self.path}: no checkpoint {name!r}; valid: "
                               f"{', '.join(sorted(self.checkpoints))}")
        return self.checkpoints[name].require_finite(f"{self.path} [checkpoint {name}]")


def versions() -> dict:
    """Versions of what produced a run (stored in every run file)."""
    import h5py

    from . import __version__

    out = {"python": platform.python_version(), "numpy": np.__version__,
           "h5py": h5py.__version__, "eqspike": __version__}
    try:
        import brian2

        out["brian2"] = brian2.__version__
    except ImportError:  # pragma: no cover - brian2 is a dependency
        out["brian2"] = "absent"
    return out


def _open(path, mode):
    import h5py

    try:
        return h5py.File(path, mode)
    except FileNotFoundError:
        raise RunFileError(f"{path}: no such run file") from None
    except OSError as exc:
        raise RunFileError(f"{path}: not a readable HDF5 file ({exc})") from None


#: Every dataset eqspike writes carries an HDF5 Fletcher-32 checksum, verified on each read,
#: so that a damaged byte fails the read instead of changing a weight.
CHECKSUM = {"fletcher32": True}


def _dataset(group, name, data=None, **kwargs):
    """``group.create_dataset`` with a checksum (a scalar cannot be chunked: it has none)."""
    shape = kwargs.get("shape", np.shape(data))
    checksum = CHECKSUM if len(shape) and (np.prod(shape) or "maxshape" in kwargs) else {}
    return group.create_dataset(name, data=data, **checksum, **kwargs)


def _toml_digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def run_outputs(path) -> list:
    """What a new run writes (:class:`eqspike.guard.Output`): the run file and its
    latest-checkpoint sidecar."""
    from .guard import Output

    return [Output(Path(path), "run file", FORMAT, hint="--resume to continue it"),
            Output(latest_path(path), "run's latest-checkpoint sidecar", FORMAT + "-latest")]


def check_new_run(path, overwrite: bool = False) -> Path:
    """Refuse, before anything is created, a path a new run cannot be written to
    (:func:`eqspike.guard.check_outputs` on the run file and its sidecar: an existing one
    unless ``overwrite``, one holding another kind of eqspike file (a run named like
    another run's sidecar, ``x.latest.h5``, or whose sidecar's name holds a run file),
    a directory, a folder that takes no file). Returns ``path``. Nothing is created."""
    from .guard import check_outputs

    path = Path(path)
    if path.name.endswith(".latest" + path.suffix) and path.suffix:
        raise RunFileError(f"{path}: a run file's name may not end in .latest{path.suffix}, "
                           f"the name of {path.name.replace('.latest', '')}'s sidecar")
    check_outputs(run_outputs(path), overwrite)
    return path


def create_run(path, spec, seed: int, weights, biases, kind: str = "spiking",
               extra: dict | None = None, groups: dict | None = None,
               exclusive: bool = False) -> None:
    """Create a new run file for ``spec`` with its ``initial`` checkpoint, in one atomic
    write (overwrites ``path``, removes an old ``RUN.latest.h5``; ``exclusive``: refuses,
    instead, if a file appeared at ``path``). ``groups``: more groups to write, see
    :func:`_write_groups`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFileError(f"cannot create {path.parent}: {exc.strerror}") from None
    with atomic_write(path, new=True, exclusive=exclusive) as f:
        f.attrs.update({"format": FORMAT, "format_version": FORMAT_VERSION, "path": kind,
                        "network": spec.name, "seed": int(seed), "status": "running",
                        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                        "versions": json.dumps(versions())})
        for key, value in (extra or {}).items():
            f.attrs[key] = value
        toml = spec.to_toml()
        network = f.create_group("network")
        network.attrs["toml"] = toml
        network.attrs["toml_sha256"] = _toml_digest(toml)
        f.create_group("checkpoints")
        metrics = f.create_group("metrics")
        for name in METRIC_FIELDS:
            dtype = "i8" if name in INTEGER_METRICS else "f8"
            _dataset(metrics, name, shape=(0,), maxshape=(None,), dtype=dtype)
        events = f.create_group("events")
        events.attrs["phases"] = ",".join(EVENT_PHASES)
        events.attrs["rows"] = ",".join(event_row_labels(spec))
        shape = (event_rows(spec), len(EVENT_PHASES))
        for name in EVENT_FIELDS:
            _dataset(events, name, shape=(0, *shape), maxshape=(None, *shape), dtype="f8")
        _write_group(f["checkpoints"].create_group("initial"), weights, biases,
                     {"epoch": 0, "samples_seen": 0})
        _write_groups(f, groups)
    # an older run's sidecar goes only once the new file is in place (--overwrite)
    latest_path(path).unlink(missing_ok=True)


def _write_groups(f, groups: dict | None) -> None:
    """Write ``{group path: {name: array}}``; a name ``"attrs"`` holds the group's attrs."""
    for name, content in (groups or {}).items():
        group = f.require_group(name)
        for key, value in content.items():
            if key == "attrs":
                group.attrs.update(value)
            else:
                _dataset(group, key, data=value)


def read_group(path, name: str) -> dict | None:
    """``{name: array}`` of one group of a run file, with its attrs under ``"attrs"`` (and
    its subgroups by name, recursively); None if the run file has no such group."""
    def load(group):
        out = {"attrs": {k: (v.item() if getattr(v, "ndim", 1) == 0 else v)
                         for k, v in group.attrs.items()}}
        for key, item in group.items():
            out[key] = load(item) if hasattr(item, "items") else item[()]
        return out

    with _open(path, "r") as f:
        return load(f[name]) if name in f else None


def remove_stale_temporaries(path) -> list:
    """Delete the temporary copies a killed writer of this run (or of its sidecar) left
    behind (a SIGKILL skips every clean-up); returns their paths. A copy is named after its
    writer's process (:func:`atomic_write`): one whose process is alive is another writer's
    and stays."""
    path = Path(path)
    stale = [p for name in (path.name, latest_path(path).name)
             for p in path.parent.glob(name + ".*.tmp")
             if not _writer_alive(p.name[len(name) + 1:])]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def _writer_alive(tail: str) -> bool:
    """Whether the process that named a temporary copy ``NAME.{pid}-XXXX.tmp`` still runs
    (a copy named otherwise, by an older eqspike, counts as stale)."""
    pid = tail.split("-", 1)[0]
    if not pid.isdigit() or "-" not in tail:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:       # alive, another user's
        return True
    return True


def latest_path(path) -> Path:
    """The sidecar file holding a run's ``latest`` checkpoint: ``RUN.latest.h5``."""
    path = Path(path)
    return path.with_name(path.stem + ".latest" + path.suffix)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_write(path, new: bool = False, exclusive: bool = False):
    """Open a copy of ``path`` (or a new file) for writing, ``NAME.{pid}-XXXX.tmp`` beside it;
    on success, fsync it and rename it over ``path`` (``exclusive``: link it there, which
    fails if ``path`` exists, so that a file created meanwhile is never replaced). On any
    error the copy is removed and ``path`` is untouched; a filesystem error (read-only
    folder, full disk, a directory in the way) is raised as :class:`RunFileError` naming
    ``path``. Every eqspike HDF5 file is written through it."""
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{path.name}.{os.getpid()}-", suffix=".tmp",
                                   dir=path.parent)
        os.close(fd)
        if not new:
            if not path.exists():
                raise RunFileError(f"{path}: no such run file")
            shutil.copyfile(path, tmp)
        with _open(tmp, "a" if not new else "w") as f:
            yield f
        os.chmod(tmp, 0o666 & ~_umask())      # mkstemp made it 0600; a file gets the umask's
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        if exclusive:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise RunFileError(f"{path}: appeared while it was being created (another "
                                   "program wrote it); it is left as it is") from None
        else:
            os.replace(tmp, path)
    except OSError as exc:
        state = " (it keeps its last complete state)" if path.exists() else ""
        raise RunFileError(f"cannot write {path}: {exc.strerror or exc}{state}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _write_group(group, weights, biases, attrs):
    """A checkpoint: ``weights`` and ``biases`` lists (W_k_k+1, b_k+1), or ``weights`` a
    dict of named arrays (``biases`` None; names with ``/`` make subgroups)."""
    if isinstance(weights, dict):
        named = weights
    else:
        named = {f"W_{k}_{k + 1}": w for k, w in enumerate(weights)}
        named.update({f"b_{k + 1}": b for k, b in enumerate(biases)})
    for name, value in named.items():
        value = np.asarray(value)
        # a float array keeps its dtype (a float32 run resumes in float32, bit for bit)
        _dataset(group, name, data=value if value.dtype.kind == "f" else value.astype(float))
    group.attrs.update(attrs)


def write_latest(path, weights, biases, progress: dict | None = None, **attrs) -> None:
    """Write the ``latest`` checkpoint (the resume point) to ``RUN.latest.h5``, atomically,
    with ``progress`` ({name: scalar or array}: what the epoch's metrics counted so far).

    The run file's own checkpoints are written by :func:`create_run` (``initial``) and
    :func:`finish_epoch` (``epoch_EEEE``).
    """
    with atomic_write(latest_path(path), new=True) as f:
        f.attrs["format"] = FORMAT + "-latest"
        f.attrs["run"] = Path(path).name
        _write_group(f.create_group("checkpoints/latest"), weights, biases, attrs)
        group = f.create_group("progress")
        for name, value in (progress or {}).items():
            if np.ndim(value) == 0:
                group.attrs[name] = value
            else:
                _dataset(group, name, data=np.asarray(value, dtype=float))


def read_progress(path) -> dict:
    """What :func:`write_latest` stored as the epoch's progress ({} if nothing)."""
    sidecar = latest_path(path)
    if not sidecar.exists():
        return {}
    group = read_group(sidecar, "progress") or {"attrs": {}}
    out = dict(group.pop("attrs"))
    out.update(group)
    return out


def resumed_test_samples(run: Run, requested: int | None) -> int | None:
    """The test-set size a resumed ``run`` evaluates on: the one recorded when it started
    (None: all images). ``requested`` (a caller's ``test_samples``) may repeat it; another
    size raises, since a resumed run keeps the test set it was started with."""
    recorded = int(run.attrs.get("test_samples", 0)) or None
    if requested is not None and requested != recorded:
        raise UsageError(f"{run.path} evaluates on {recorded or 'all'} test images; a "
                         "resumed run keeps the test set it was started with")
    return recorded


#: What eqspike writes beside a run (format attribute prefix -> what it is, file-name
#: ending that tells it when the file cannot be read).
COMPANIONS = {FORMAT + "-latest": ("the latest-checkpoint sidecar of a run", ".latest.h5"),
              "eqspike-baseline": ("a measured baseline", None),
              "eqspike-energy-vs-steps": ("an energy-accuracy curve", ".energy-vs-steps.h5")}


def companion_kind(path) -> str | None:
    """What eqspike file beside a run ``path`` is (a sidecar, a measured baseline, an
    energy-accuracy curve), by its format attribute, or by its name when it cannot be
    read; None for anything else (a run file, or not an eqspike file)."""
    path = Path(path)
    try:
        with _open(path, "r") as f:
            form = str(f.attrs.get("format", ""))
    except RunFileError:
        return next((what for what, ending in COMPANIONS.values()
                     if ending and path.name.endswith(ending)), None)
    return next((what for prefix, (what, _) in COMPANIONS.items()
                 if form.startswith(prefix)), None)


def is_sidecar(path) -> bool:
    """Whether ``path`` is a run's latest-checkpoint sidecar (``RUN.latest.h5``)."""
    return companion_kind(path) == COMPANIONS[FORMAT + "-latest"][0]


def run_paths(paths) -> tuple[list, list]:
    """Split the paths a command was given (a shell glob such as ``runs/*.h5`` included)
    into run files and the notes of the companion files skipped (sidecars, measured
    baselines, energy-accuracy curves: :data:`COMPANIONS`)."""
    runs, notes = [], []
    for path in map(Path, paths):
        kind = companion_kind(path) if path.is_file() else None
        if kind:
            notes.append(f"skipping {path}: {kind}, not a run file")
        else:
            runs.append(path)
    return runs, notes


def finish_epoch(path, epoch: int, weights, biases, metrics: dict, events: dict,
                 samples_seen: int, groups: dict | None = None,
                 optimizer: dict | None = None) -> None:
    """Record a finished epoch in one atomic write: checkpoint ``epoch_EEEE`` (1-based) with
    the parameters (``weights`` a dict of named arrays and ``biases`` None, or the two
    lists) and the ``optimizer`` state (``{NAME/K: array}``, stored under ``opt/``), one
    row of metrics and event statistics, and ``groups`` (see :func:`_write_groups`; the
    epoch's STDP log). Writing an epoch that is already recorded replaces nothing and
    raises, so a resumed run can never duplicate a row."""
    if optimizer:
        weights = {**weights, **{OPTIMIZER_PREFIX + k: v for k, v in optimizer.items()}}
    with atomic_write(path) as f:
        recorded = f["metrics/epoch"].shape[0]
        if recorded != epoch - 1:
            raise RunFileError(f"{path}: epoch {epoch} follows {recorded} recorded epoch(s)")
        name = f"epoch_{epoch:04d}"
        _write_group(f["checkpoints"].create_group(name), weights, biases,
                     {"epoch": epoch, "samples_seen": samples_seen})
        for group_name, values, fields in (("metrics", metrics, METRIC_FIELDS),
                                           ("events", events, EVENT_FIELDS)):
            group = f[group_name]
            for field_name in fields:
                ds = group[field_name]
                ds.resize(ds.shape[0] + 1, axis=0)
                ds[-1] = values[field_name]
        _write_groups(f, groups)


def check_extension(run: Run, epochs: int) -> None:
    """``--epochs N`` for a resumed run: at least the epochs it has finished."""
    done = len(run.metrics["epoch"])
    if epochs < done:
        raise RunFileError(f"{run.path}: has {done} finished epochs; --epochs {epochs} would "
                           "drop some")


def extend_epochs(path, epochs: int) -> None:
    """Let a run go on to ``epochs`` epochs in all: rewrite its stored network definition's
    ``[training] epochs`` (the only field a resumed run may change; the learning-rate
    schedule depends on the epoch index alone, so the run continues as if it had been
    defined that way)."""
    run = read_run(path)
    check_extension(run, epochs)
    spec = run.spec.replace(training={"epochs": int(epochs)})
    toml = spec.to_toml()
    with atomic_write(path) as f:
        f["network"].attrs["toml"] = toml
        f["network"].attrs["toml_sha256"] = _toml_digest(toml)
        f.attrs["status"] = "running"


def set_status(path, status: str) -> None:
    with atomic_write(path) as f:
        f.attrs["status"] = status


def _checkpoint(group) -> Checkpoint:
    arrays = {}
    group.visititems(lambda name, item: arrays.__setitem__(name, item[()])
                     if not hasattr(item, "items") else None)
    params = {k: v for k, v in arrays.items() if not k.startswith(OPTIMIZER_PREFIX)}
    optimizer = {k[len(OPTIMIZER_PREFIX):]: v for k, v in arrays.items()
                 if k.startswith(OPTIMIZER_PREFIX)}
    return Checkpoint(params, dict(group.attrs), optimizer)


def read_run(path) -> Run:
    """Read a run file; :class:`RunFileError` names what is wrong with a bad one."""
    path = Path(path)
    if not path.exists():
        raise RunFileError(f"{path}: no such run file")
    with _open(path, "r") as f:
        if f.attrs.get("format") == FORMAT + "-latest":
            raise RunFileError(f"{path}: the latest-checkpoint sidecar of "
                               f"{f.attrs.get('run', 'a run')}, not a run file; give the "
                               "run file itself")
        if f.attrs.get("format") != FORMAT:
            raise RunFileError(f"{path}: an HDF5 file, but not an eqspike run file "
                               "(no format='eqspike-run' attribute)")
        try:
            attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
            toml = f["network"].attrs["toml"]
            digest = f["network"].attrs.get("toml_sha256")
            checkpoints = {name: _checkpoint(g) for name, g in f["checkpoints"].items()}
            metrics = {name: (f["metrics"][name][()] if name in f["metrics"]
                              else np.full(f["metrics/epoch"].shape[0], ADDED_METRICS[name]))
                       for name in METRIC_FIELDS}
            events = {name: f["events"][name][()] for name in EVENT_FIELDS}
        except KeyError as exc:
            raise RunFileError(f"{path}: eqspike run file lacks a field ({exc})") from None
        except OSError as exc:
            raise RunFileError(f"{path}: damaged, a dataset fails to read or its checksum "
                               f"does not match ({exc})") from None
    if digest is not None and _toml_digest(toml) != digest:
        raise RunFileError(f"{path}: damaged, the stored network definition does not match "
                           "its checksum")
    if "initial" not in checkpoints:
        raise RunFileError(f"{path}: eqspike run file has no initial checkpoint")
    edges = _edge_order(toml)
    sidecar = latest_path(path)
    if sidecar.exists():
        with _open(sidecar, "r") as f:
            try:
                checkpoints["latest"] = _checkpoint(f["checkpoints/latest"])
            except KeyError:
                raise RunFileError(f"{sidecar}: not an eqspike checkpoint file") from None
            except OSError as exc:
                raise RunFileError(f"{sidecar}: damaged, a dataset fails to read or its "
                                   f"checksum does not match ({exc})") from None
    for point in checkpoints.values():
        point.edges = edges
    return Run(path, attrs, toml, checkpoints, metrics, events)


def _edge_order(toml: str) -> tuple | None:
    """(pre, post) of each edge of a stored network definition whose weights are all
    ``W_pre_post`` (None for a graph the stored definition does not parse into, which
    then reads as a chain)."""
    from .spec import spec_from_toml
    from .errors import EqspikeError

    try:
        spec = spec_from_toml(toml, name="run", stored=True)
    except EqspikeError:
        return None
    return tuple((e.pre, e.post) for e in spec.edges)
