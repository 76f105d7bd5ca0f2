"""Training and evaluating the spiking network: epochs of chunks, checkpoints, metrics.

One epoch presents ``train_samples`` training images (the first N of the training set, in a
new order every epoch, drawn from ``seed`` and the epoch number) one at a time, in chunks of
``chunk_samples`` that run through one compiled build (:mod:`eqspike.engine`). After every
chunk the parameters are checked (finite) and saved as the ``latest`` checkpoint (the
sidecar ``RUN.latest.h5``); after every epoch the test set is evaluated and the epoch's
checkpoint and metrics are appended to the run file (:mod:`eqspike.runfile`). Everything that decides the result derives
from the seed, so the same seed gives the same weights, and a resumed run continues exactly
where the last checkpoint left it.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import runfile
from .data import load_dataset, rates_from_images
from .errors import EqspikeError, UsageError
from .parameters import as_lists, init_parameters
from .plasticity.stdp_log import STDPLogger, select_synapses
from .rules import rule_scales, schedule_position
from .schedule import EVENT_PHASES, SAMPLE_EVAL, SAMPLE_TRAIN
from .engine import Engine, make_engine
from .spec import NetworkSpec, SpecError
from .threads import numerical_threads, resolve_threads, resumed_threads

__all__ = ["TrainingDiverged", "EventStats", "accuracy_drop_warning",
           "predict", "evaluate", "train",
           "check_finite", "TrainResult", "progress_bar"]


class TrainingDiverged(EqspikeError, RuntimeError):
    """Weights or biases became non-finite; the last good checkpoint is kept."""


def check_finite(weights, biases, where: str) -> None:
    """Raise :class:`TrainingDiverged` naming the first layer with a non-finite value."""
    for k, w in enumerate(weights):
        if not np.all(np.isfinite(w)):
            raise TrainingDiverged(f"non-finite weights W_{k}_{k + 1} {where}")
    for k, b in enumerate(biases):
        if not np.all(np.isfinite(b)):
            raise TrainingDiverged(f"non-finite biases b_{k + 1} {where}")


def predict(readout: np.ndarray) -> np.ndarray:
    """The class of each sample: the output neuron with the most readout spikes."""
    return np.argmax(readout, axis=1)


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


def _chunks(n: int, size: int):
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def evaluate(engine: Engine, weights, biases, rates, labels, progress=None):
    """Free phase only (no nudge, no plasticity): accuracy and the samples' event counts."""
    n_out = engine.spec.layers[-1]
    targets = np.zeros((engine.chunk_samples, n_out))
    correct, stats = 0, EventStats()
    for start, stop in _chunks(len(labels), engine.chunk_samples):
        n = stop - start
        result = engine.run_chunk(rates[start:stop], targets[:n], np.full(n, SAMPLE_EVAL),
                                  weights, biases)
        correct += int(np.sum(predict(result.readout) == labels[start:stop]))
        if result.events is not None:
            stats.add(result.events)
        if progress is not None:
            progress.update(n)
    return correct / len(labels), stats


@dataclass
class TrainResult:
    path: Path
    test_accuracy: list
    train_accuracy: list
    seconds: float


def progress_bar(total, desc, enabled):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="sample", dynamic_ncols=True, leave=True)


def accuracy_drop_warning(test_accuracies, run_path, tolerance: float = 0.02) -> str | None:
    """A warning when the last epoch's test accuracy fell more than ``tolerance`` below the
    best epoch's (long spiking runs can drift; see README, Measured figures), or None."""
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


def _event_row(train_stats: EventStats, eval_stats: EventStats, shape) -> dict:
    train_mean, train_std = train_stats.mean_std(shape)
    eval_mean, eval_std = eval_stats.mean_std(shape)
    return {"train_mean": train_mean, "train_std": train_std, "eval_mean": eval_mean,
            "eval_std": eval_std}


def _resume_point(run: runfile.Run):
    """Where an interrupted run continues: (weights, biases, epoch, chunk, progress).

    The run file records finished epochs; ``RUN.latest.h5`` the last finished chunk and what
    the epoch's metrics counted until then (``progress``, {} at an epoch's start). A latest
    checkpoint older than the last finished epoch (killed between the two writes) is
    ignored in favour of that epoch's checkpoint.
    """
    done = len(run.metrics["epoch"])
    latest = run.checkpoints.get("latest")
    if latest is not None and int(latest.attrs.get("epoch", -1)) >= done:
        point, epoch, chunk = latest, int(latest.attrs["epoch"]), int(latest.attrs["chunk"])
        point.require_finite(f"{runfile.latest_path(run.path)} [checkpoint latest]")
        progress = runfile.read_progress(run.path) if chunk else {}
    else:
        point = run.checkpoint(f"epoch_{done:04d}" if done else "initial")
        epoch, chunk, progress = done, 0, {}
    return point.weights, point.biases, epoch, chunk, progress


def _stdp_logger(spec, seed, log_synapses, log_max_events, stored=None):
    """The STDP logger of a run: a new selection of ``log_synapses`` per layer pair, or the
    one a resumed run file holds (``stored``: its ``/plasticity`` group); None: no logging."""
    if stored is not None:
        selection = [(stored[f"pre_{k}"], stored[f"post_{k}"])
                     for k in range(len(spec.layers) - 1)]
        attrs = stored["attrs"]
        return STDPLogger(spec, selection, int(attrs["max_events"]), int(attrs["dt_range"]),
                          seed, background=True)
    if not log_synapses:
        return None
    return STDPLogger(spec, select_synapses(spec, log_synapses, seed), log_max_events,
                      seed=seed, background=True)


def train(spec: NetworkSpec, run_path, *, data_dir=None, mode: str = "standalone",
          resume: bool = False, test_samples: int | None = None, progress: bool = True,
          cache_dir=None, download: bool = True, log_synapses: int = 0,
          log_max_events: int = 100_000, threads: int | None = None,
          run_attrs: dict | None = None, overwrite: bool = False,
          epochs: int | None = None) -> TrainResult:
    """Train ``spec`` (its ``[training]`` table says how long) into run file ``run_path``.

    With ``resume=True`` the run continues from its last checkpoint (see
    :func:`_resume_point`), with the network definition stored in the file, to the weights
    and metrics of an uninterrupted run (its seconds aside).

    ``log_synapses`` > 0 logs the weight changes of that many synapses per layer pair
    (:mod:`eqspike.plasticity.stdp_log`), keeping at most ``log_max_events`` of them per
    layer pair and epoch; a resumed run logs the synapses its file names. The log of an
    interrupted epoch covers the chunks run after resuming.

    ``threads``: the run's thread count (:mod:`eqspike.threads`: OpenMP threads of the
    compiled simulation, and at least one thread of the numerical libraries; None:
    ``$EQSPIKE_THREADS`` or 0). ``run_attrs``: more attributes of a new run file (a sweep's
    name and point). An existing ``run_path`` is refused unless ``overwrite``. ``epochs``,
    with ``resume``: go on to that many epochs in all (:func:`eqspike.runfile.extend_epochs`,
    done once every check has passed).

    What shapes the results or the metrics is fixed when the run starts and reused by a
    resume: the network as run, the seed, the thread count, the test-set size
    (``test_samples``, recorded in the run file; a resume given another one refuses) and,
    through the sidecar, what the interrupted epoch had counted (running accuracy, event
    statistics, training seconds). ``train_seconds`` counts the training that produced the
    weights: the wall time of the chunks whose results were kept, each stretch's start-up
    (data, compilation) and a killed stretch's unfinished chunk left out, so a resumed run
    records about what an uninterrupted one does. The output path, the thread count, the
    data and the compiled build are all checked before the run file is created: a failure
    there creates nothing.
    """
    run_path = Path(run_path)
    if spec is not None and spec.network.path != "spiking":
        raise UsageError(f"{spec.name} is a rate-reference network ([network] path = "
                         f"{spec.network.path!r}): train it with eqspike.reference.training")
    progress_state = {}
    if resume:
        runfile.remove_stale_temporaries(run_path)
        run = runfile.read_run(run_path)
        spec, seed = run.spec, int(run.attrs["seed"])
        test_samples = runfile.resumed_test_samples(run, test_samples)
        threads = resumed_threads(run.attrs.get("threads"), threads)
        weights, biases, start_epoch, start_chunk, progress_state = _resume_point(run)
        test_history = list(run.metrics["test_accuracy"])
        train_history = list(run.metrics["train_accuracy"])
        if epochs is not None:
            runfile.extend_epochs(run_path, epochs)
            spec = runfile.read_run(run_path).spec
    else:
        runfile.check_new_run(run_path, overwrite)
        threads = resolve_threads(threads)
        seed = spec.training.seed
        start_epoch, start_chunk = 0, 0
        test_history, train_history = [], []

    # the data are read and checked before a run file exists: a data error creates nothing
    cfg = spec.training
    train_set = load_dataset(spec.network.dataset, "train", data_dir, download)
    test_set = load_dataset(spec.network.dataset, "test", data_dir, download)
    n_train = min(cfg.train_samples, len(train_set))
    n_test = len(test_set) if test_samples is None else min(test_samples, len(test_set))
    if train_set.images[0].size != spec.layers[0]:
        raise SpecError(f"{spec.name}: the input layer has {spec.layers[0]} neurons but "
                         f"{spec.network.dataset} images have {train_set.images[0].size} "
                         "pixels")
    train_rates = rates_from_images(train_set.images[:n_train])
    train_labels = train_set.labels[:n_train].astype(int)
    test_rates = rates_from_images(test_set.images[:n_test])
    test_labels = test_set.labels[:n_test].astype(int)
    n_out = spec.layers[-1]

    if resume:
        logger = _stdp_logger(spec, seed, 0, 0, runfile.read_group(run_path, "plasticity"))
    else:
        weights, biases = as_lists(spec, init_parameters(spec, seed))
        logger = _stdp_logger(spec, seed, log_synapses, log_max_events)

    t_start = time.time()
    engine = make_engine(spec, mode, cfg.chunk_samples, seed, cache_dir,
                         log_neurons=logger.neurons if logger is not None else None,
                         threads=threads)
    if not resume:
        groups = None
        if logger is not None:
            groups = logger.selection_groups(rule_scales(spec, 0)[0])
        extra = {"test_samples": int(test_samples or 0), "threads": threads,
                 **(run_attrs or {})}
        runfile.create_run(run_path, spec, seed, weights, biases, groups=groups, extra=extra)
    with numerical_threads(threads):
        chunks = _chunks(n_train, cfg.chunk_samples)
        for epoch in range(start_epoch, cfg.epochs):
            order = np.random.default_rng([seed, epoch]).permutation(n_train)
            bar = progress_bar(n_train, f"epoch {epoch + 1}/{cfg.epochs}", progress)
            first = start_chunk if epoch == start_epoch else 0
            carried = progress_state if first else {}    # what earlier stretches counted
            correct, seen = int(carried.get("correct", 0)), int(carried.get("seen", 0))
            train_stats = EventStats(carried.get("events_n", 0), carried.get("events_total", 0.0),
                                     carried.get("events_squares", 0.0))
            # the wall time of the chunks whose results are kept, earlier stretches' included
            train_seconds = float(carried.get("train_seconds", 0.0))
            if bar is not None and first:
                bar.update(chunks[first - 1][1])
            if logger is not None:
                logger.start_epoch(weights,
                                   epoch * n_train + (chunks[first - 1][1] if first else 0))
            for k in range(first, len(chunks)):
                t_chunk = time.time()
                idx = order[chunks[k][0]:chunks[k][1]]
                position = schedule_position(spec, epoch, chunks[k][0], n_train)
                result = engine.run_chunk(train_rates[idx], np.eye(n_out)[train_labels[idx]],
                                          np.full(len(idx), SAMPLE_TRAIN), weights, biases,
                                          epoch=position)
                check_finite(result.weights, result.biases,
                             f"after chunk {k + 1} of epoch {epoch + 1} (last good checkpoint "
                             f"kept in {run_path})")
                weights, biases = result.weights, result.biases
                if logger is not None:
                    logger.add_chunk(result.logged_spikes, engine.learning_rates(position)[0],
                                     weights, chunks[k][0], len(idx),
                                     epoch * n_train + chunks[k][1])
                correct += int(np.sum(predict(result.readout) == train_labels[idx]))
                seen += len(idx)
                train_stats.add(result.events)
                train_seconds += time.time() - t_chunk
                runfile.write_latest(run_path, weights, biases,
                                     progress={"correct": correct, "seen": seen,
                                               "train_seconds": train_seconds,
                                               **train_stats.state()},
                                     epoch=epoch, chunk=k + 1,
                                     samples_seen=epoch * n_train + chunks[k][1])
                if bar is not None:
                    bar.update(len(idx))
                    bar.set_postfix(train_acc=f"{correct / seen:.3f}")
            if bar is not None:
                bar.close()
            t_eval = time.time()
            bar = progress_bar(n_test, "  test", progress)
            test_acc, eval_stats = evaluate(engine, weights, biases, test_rates, test_labels, bar)
            if bar is not None:
                bar.close()
            eval_seconds = time.time() - t_eval
            train_acc = correct / seen if seen else float("nan")
            runfile.finish_epoch(
                run_path, epoch + 1, weights, biases,
                {"epoch": epoch + 1, "train_accuracy": train_acc, "test_accuracy": test_acc,
                 "train_seconds": train_seconds, "eval_seconds": eval_seconds,
                 "train_samples": n_train, "test_images": n_test},
                _event_row(train_stats, eval_stats, (len(spec.layers), len(EVENT_PHASES))),
                samples_seen=(epoch + 1) * n_train,
                groups=logger.epoch_groups(epoch + 1) if logger is not None else None)
            runfile.write_latest(run_path, weights, biases, epoch=epoch + 1, chunk=0,
                                 samples_seen=(epoch + 1) * n_train)
            test_history.append(test_acc)
            train_history.append(train_acc)
            report_epoch(epoch, train_acc, test_history, n_test, train_seconds, eval_seconds,
                         run_path, progress)
        runfile.set_status(run_path, "complete")
        return TrainResult(run_path, test_history, train_history, time.time() - t_start)
