"""The one epoch loop both engines train in: order, progress, divergence, checkpoints.

An epoch presents ``train_samples`` training images (the first N of the training set) in a
new order drawn from ``[seed, epoch]``, unit by unit: the spiking engine's chunks of
samples (:mod:`eqspike.training.spiking`), the rate reference's mini-batches
(:mod:`eqspike.training.rate`). After every unit the parameters are checked (finite:
:class:`TrainingDiverged` names the first that is not) and, for an engine that resumes
mid-epoch, saved as the ``latest`` checkpoint (the sidecar ``RUN.latest.h5``) with what the
epoch's metrics counted so far. After every epoch the test set is evaluated and the epoch's
checkpoint (parameters and optimiser state) and metrics are appended to the run file
(:mod:`eqspike.runfile`). Everything that decides the result derives from the seed and the
thread count (:mod:`eqspike.threads`), so a run is reproducible and a resumed run ends
with the uninterrupted run's parameters. A Ctrl-C stops the run before its next unit at
the latest, even one that a finaliser swallowed (:mod:`eqspike.interrupts`).

``train_seconds`` counts the training that produced the weights: the wall time of the units
whose results were kept (start-up, evaluation and a killed stretch's unfinished unit left
out); a resumed stretch adds its units to what the sidecar recorded.

A trainer (one per engine) provides what differs: its units, one unit's training step,
its parameters and optimiser state, and its evaluation (:class:`Trainer`).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .. import runfile
from ..conv import event_rows
from ..errors import EqspikeError
from ..interrupts import remembered_interrupts
from ..schedule import EVENT_PHASES
from ..threads import numerical_threads

__all__ = ["TrainingDiverged", "TrainResult", "Trainer", "EventStats", "check_finite",
           "progress_bar", "accuracy_drop_warning", "report_epoch", "run_epochs", "units",
           "resume_point"]


class TrainingDiverged(EqspikeError, RuntimeError):
    """Weights or biases became non-finite; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    path: Path
    test_accuracy: list
    train_accuracy: list
    seconds: float


def check_finite(params: dict, where: str) -> None:
    """Raise :class:`TrainingDiverged` naming the first parameter with a non-finite value."""
    found = runfile.first_non_finite(params)
    if found:
        raise TrainingDiverged(f"non-finite {found[0]} {where}")


class EventStats:
    """Running mean and standard deviation of per-sample event counts (n, L, phases)."""

    def __init__(self, n=0, total=0.0, squares=0.0):
        self.n, self.total, self.squares = int(n), total, squares

    def state(self) -> dict:
        """What :meth:`__init__` takes back (to carry an epoch's counts over a resume)."""
        return {"events_n": self.n, "events_total": self.total,
                "events_squares": self.squares}

    def add(self, events: np.ndarray) -> None:
        self.n += len(events)
        self.total = self.total + events.sum(axis=0)
        self.squares = self.squares + (events.astype(float) ** 2).sum(axis=0)

    def mean_std(self, shape):
        if not self.n:
            return np.full(shape, np.nan), np.full(shape, np.nan)
        mean = self.total / self.n
        return mean, np.sqrt(np.maximum(self.squares / self.n - mean ** 2, 0.0))


def units(n: int, size: int) -> list:
    """[(start, stop)] of ``n`` samples in units of ``size``."""
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def progress_bar(total, desc, enabled):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="sample", dynamic_ncols=True, leave=True)


def accuracy_drop_warning(test_accuracies, run_path, tolerance: float = 0.02) -> str | None:
    """A warning when the last epoch's test accuracy fell more than ``tolerance`` below the
    best epoch's (long spiking runs can drift; see docs/results.md), or None."""
    if len(test_accuracies) < 2:
        return None
    best = int(np.argmax(test_accuracies))
    last = test_accuracies[-1]
    if test_accuracies[best] - last <= tolerance:
        return None
    return (f"warning: test accuracy fell to {last:.4f} from {test_accuracies[best]:.4f} at "
            f"epoch {best + 1}; that epoch's weights stay in the run file: eqspike evaluate "
            f"{run_path} --checkpoint epoch_{best + 1:04d}")


def report_epoch(epoch: int, train_acc: float, test_history: list, n_test: int,
                 train_seconds: float, eval_seconds: float, run_path, progress: bool) -> None:
    """Print a finished epoch's line (if ``progress``) and, always, the accuracy-drop
    warning (:func:`accuracy_drop_warning`)."""
    if progress:
        print(f"epoch {epoch + 1}: train accuracy {train_acc:.4f} (running), test accuracy "
              f"{test_history[-1]:.4f} on {n_test} images [{train_seconds:.1f} s train, "
              f"{eval_seconds:.1f} s test]", flush=True)
    warning = accuracy_drop_warning(test_history, run_path)
    if warning:
        print(warning, file=sys.stderr, flush=True)


class Trainer(Protocol):
    """What an engine gives the loop.

    ``unit_size`` and ``unit_name``: samples per unit and what a unit is (a chunk, a batch);
    ``resumes_mid_epoch``: whether the loop saves the ``latest`` checkpoint after every unit
    (else an interrupted epoch restarts from the last finished one); ``train_labels``: the
    epoch's training labels; ``n_test``: the test images each evaluation covers.
    :meth:`train_unit` trains on the samples ``idx`` (the unit starting ``start`` samples
    into the epoch) and returns (predicted classes, per-sample event counts or None);
    :meth:`after_unit` runs once the unit's parameters are known finite; :meth:`evaluate`
    returns (test accuracy, :class:`EventStats` or None).
    """

    spec: object
    unit_size: int
    unit_name: str
    resumes_mid_epoch: bool
    train_labels: np.ndarray
    n_test: int

    def start_epoch(self, epoch: int, first_sample: int) -> None: ...

    def train_unit(self, epoch: int, idx: np.ndarray, start: int) -> tuple: ...

    def after_unit(self) -> None: ...

    def parameters(self) -> dict: ...

    def optimizer_state(self) -> dict: ...

    def evaluate(self, progress: bool) -> tuple: ...

    def epoch_groups(self, epoch: int) -> dict | None: ...


def _event_row(train_stats: EventStats, eval_stats: EventStats | None, shape) -> dict:
    train_mean, train_std = train_stats.mean_std(shape)
    eval_mean, eval_std = (eval_stats or EventStats()).mean_std(shape)
    return {"train_mean": train_mean, "train_std": train_std, "eval_mean": eval_mean,
            "eval_std": eval_std}


def run_epochs(trainer: Trainer, run_path, *, seed: int, start_epoch: int, start_unit: int,
               carried: dict, test_history: list, train_history: list, threads: int,
               progress: bool, t_start: float | None = None) -> TrainResult:
    """Train ``trainer`` from epoch ``start_epoch``, unit ``start_unit`` (with ``carried``,
    what the sidecar recorded of that epoch) to the spec's last epoch; see the module
    docstring. Returns the run's test and training accuracies, and the seconds since
    ``t_start`` (when the caller began: data, build and all; default: now)."""
    spec = trainer.spec
    n_train = len(trainer.train_labels)
    shape = (event_rows(spec), len(EVENT_PHASES))
    epoch_units = units(n_train, trainer.unit_size)
    t_start = time.time() if t_start is None else t_start
    with numerical_threads(threads), remembered_interrupts() as interrupts:
        for epoch in range(start_epoch, spec.training.epochs):
            order = np.random.default_rng([seed, epoch]).permutation(n_train)
            first = start_unit if epoch == start_epoch else 0
            state = carried if first else {}          # what earlier stretches counted
            correct, seen = int(state.get("correct", 0)), int(state.get("seen", 0))
            stats = EventStats(state.get("events_n", 0), state.get("events_total", 0.0),
                               state.get("events_squares", 0.0))
            train_seconds = float(state.get("train_seconds", 0.0))
            bar = progress_bar(n_train, f"epoch {epoch + 1}/{spec.training.epochs}", progress)
            first_sample = epoch_units[first - 1][1] if first else 0
            if bar is not None and first:
                bar.update(first_sample)
            trainer.start_epoch(epoch, first_sample)
            for k in range(first, len(epoch_units)):
                interrupts.check()                # a Ctrl-C that a finaliser swallowed
                t_unit = time.time()
                start, stop = epoch_units[k]
                idx = order[start:stop]
                predictions, events = trainer.train_unit(epoch, idx, start)
                check_finite(trainer.parameters(),
                             f"after {trainer.unit_name} {k + 1} of epoch {epoch + 1} (last "
                             f"good checkpoint kept in {run_path})")
                trainer.after_unit()
                correct += int(np.sum(predictions == trainer.train_labels[idx]))
                seen += len(idx)
                if events is not None:
                    stats.add(events)
                train_seconds += time.time() - t_unit
                if trainer.resumes_mid_epoch:
                    runfile.write_latest(run_path, trainer.parameters(), None,
                                         progress={"correct": correct, "seen": seen,
                                                   "train_seconds": train_seconds,
                                                   **stats.state()},
                                         epoch=epoch, chunk=k + 1,
                                         samples_seen=epoch * n_train + stop)
                if bar is not None:
                    bar.update(len(idx))
                    if k % max(1, 1000 // trainer.unit_size) == 0:   # every ~1000 samples
                        bar.set_postfix(train_acc=f"{correct / seen:.3f}")
            if bar is not None:
                bar.close()
            interrupts.check()
            t_eval = time.time()
            test_acc, eval_stats = trainer.evaluate(progress)
            eval_seconds = time.time() - t_eval
            train_acc = correct / seen if seen else float("nan")
            runfile.finish_epoch(
                run_path, epoch + 1, trainer.parameters(), None,
                {"epoch": epoch + 1, "train_accuracy": train_acc, "test_accuracy": test_acc,
                 "train_seconds": train_seconds, "eval_seconds": eval_seconds,
                 "train_samples": n_train, "test_images": trainer.n_test},
                _event_row(stats, eval_stats, shape), samples_seen=(epoch + 1) * n_train,
                groups=trainer.epoch_groups(epoch + 1), optimizer=trainer.optimizer_state())
            if trainer.resumes_mid_epoch:
                runfile.write_latest(run_path, trainer.parameters(), None, epoch=epoch + 1,
                                     chunk=0, samples_seen=(epoch + 1) * n_train)
            test_history.append(test_acc)
            train_history.append(train_acc)
            report_epoch(epoch, train_acc, test_history, trainer.n_test, train_seconds,
                         eval_seconds, run_path, progress)
    runfile.set_status(run_path, "complete")
    return TrainResult(Path(run_path), test_history, train_history, time.time() - t_start)


def resume_point(run: runfile.Run, mid_epoch: bool):
    """Where an interrupted run continues: (checkpoint, epoch, unit, carried progress).

    The run file records finished epochs; an engine that resumes mid-epoch also has
    ``RUN.latest.h5``, the last finished chunk and what the epoch's metrics counted until
    then (``carried``, {} at an epoch's start). A latest checkpoint older than the last
    finished epoch (killed between the two writes) is ignored in favour of that epoch's
    checkpoint. Every checkpoint used is checked finite.
    """
    done = len(run.metrics["epoch"])
    latest = run.checkpoints.get("latest") if mid_epoch else None
    if latest is not None and int(latest.attrs.get("epoch", -1)) >= done:
        point, epoch, unit = latest, int(latest.attrs["epoch"]), int(latest.attrs["chunk"])
        point.require_finite(f"{runfile.latest_path(run.path)} [checkpoint latest]")
        carried = runfile.read_progress(run.path) if unit else {}
        return point, epoch, unit, carried
    return run.checkpoint(f"epoch_{done:04d}" if done else "initial"), done, 0, {}
