"""The spiking engine's trainer: chunks of samples through one compiled build.

A unit of the epoch loop (:mod:`eqspike.training.loop`) is a chunk of ``chunk_samples``
training images presented one at a time through the compiled build of
:mod:`eqspike.engine`, at the learning-rate schedule's position of the chunk
(:func:`eqspike.rules.schedule_position`). The loop saves the ``latest`` checkpoint after
every chunk, so an interrupted epoch resumes at its next chunk. Evaluation is the free phase
only (no nudge, no plasticity), in a build of its own whose samples are the T1 free steps
alone (``free_only``: no idle nudged steps); the prediction is the output neuron with the
most readout spikes (with the delta code, the largest sum of sent values). A standalone
process holds one build at a time, so the training build is made again (its compiled code
cached) after each evaluation. With STDP logging (:mod:`eqspike.plasticity.stdp_log`) every chunk's logged spikes
rebuild the logged synapses' changes, and each epoch's log goes into the run file.
"""

from __future__ import annotations

import numpy as np

from ..data import epoch_shifts, network_inputs, training_inputs
from ..engine import Engine, make_engine
from ..parameters import as_lists, feedback_list, init_parameters
from ..synapses import device_gains
from ..plasticity.stdp_log import STDPLogger, select_synapses
from ..rules import rule_scales, schedule_position
from ..schedule import SAMPLE_EVAL, SAMPLE_TRAIN
from .loop import EventStats, progress_bar, units

__all__ = ["SpikingTrainer", "classify", "evaluate", "predict"]


def predict(readout: np.ndarray) -> np.ndarray:
    """The class of each sample: the output neuron with the most readout spikes."""
    return np.argmax(readout, axis=1)


def classify(engine: Engine, weights, biases, rates, progress=None, feedback=None):
    """Free phase only (no nudge, no plasticity): the class of every sample of ``rates``
    (:func:`predict`) and the samples' event counts (``feedback``: the edges' own feedback
    weights, with one-way couplings)."""
    n_out = engine.spec.layers[-1]
    targets = np.zeros((engine.chunk_samples, n_out))
    classes, stats = [], EventStats()
    for start, stop in units(len(rates), engine.chunk_samples):
        n = stop - start
        result = engine.run_chunk(rates[start:stop], targets[:n], np.full(n, SAMPLE_EVAL),
                                  weights, biases, feedback=feedback)
        classes.append(predict(result.readout))
        if result.events is not None:
            stats.add(result.events)
        if progress is not None:
            progress.update(n)
    return np.concatenate(classes), stats


def evaluate(engine: Engine, weights, biases, rates, labels, progress=None, feedback=None):
    """Free phase only (no nudge, no plasticity): accuracy and the samples' event counts."""
    classes, stats = classify(engine, weights, biases, rates, progress, feedback)
    return float(np.mean(classes == labels)), stats


def _stdp_logger(spec, seed, log_synapses, log_max_events, stored=None):
    """The STDP logger of a run: a new selection of ``log_synapses`` per edge, or the
    one a resumed run file holds (``stored``: its ``/plasticity`` group); None: no logging."""
    if stored is not None:
        selection = [(stored[f"pre_{k}"], stored[f"post_{k}"]) for k in range(len(spec.edges))]
        attrs = stored["attrs"]
        return STDPLogger(spec, selection, int(attrs["max_events"]), int(attrs["dt_range"]),
                          seed, background=True)
    if not log_synapses:
        return None
    return STDPLogger(spec, select_synapses(spec, log_synapses, seed), log_max_events,
                      seed=seed, background=True)


class SpikingTrainer:
    """The spiking engine in the epoch loop (:class:`eqspike.training.loop.Trainer`).

    ``mode``: the Brian2 device (standalone: one compiled build; runtime: no compiler);
    ``threads``: the run's thread count (:mod:`eqspike.threads`); ``log_synapses`` > 0 logs
    the weight changes of that many synapses per edge, keeping at most
    ``log_max_events`` per edge and epoch (``stored_log``: a resumed run's
    ``/plasticity`` group, whose synapses it logs again; the log of an interrupted epoch
    covers the chunks run after resuming).
    """

    unit_name = "chunk"
    resumes_mid_epoch = True

    def __init__(self, spec, seed: int, *, point=None, data_dir=None, download: bool = True,
                 test_samples: int | None = None, mode: str = "standalone", cache_dir=None,
                 threads: int = 0, log_synapses: int = 0, log_max_events: int = 100_000,
                 stored_log=None):
        self.spec, self.seed = spec, seed
        cfg = spec.training
        self.train_rates, self.train_labels = network_inputs(spec, "train", data_dir,
                                                             download, cfg.train_samples,
                                                             lazy=True)
        self.test_rates, self.test_labels = network_inputs(spec, "test", data_dir, download,
                                                           test_samples, lazy=True)
        self.n_test = len(self.test_labels)
        if point is None:
            params = init_parameters(spec, seed)
            self.weights, self.biases = as_lists(spec, params)
            self.feedback = feedback_list(spec, params)
            self.logger = _stdp_logger(spec, seed, log_synapses, log_max_events)
        else:
            self.weights, self.biases = point.weights, point.biases
            self.feedback = point.feedback
            self.logger = _stdp_logger(spec, seed, 0, 0, stored_log)
        self.gains = device_gains(spec, seed, {n: np.shape(a) for n, a in
                                               self.parameters().items()
                                               if not n.startswith("b_")})
        self.unit_size = cfg.chunk_samples
        self._options = dict(mode=mode, chunk_samples=cfg.chunk_samples, seed=seed,
                             cache_dir=cache_dir, threads=threads)
        self.engine = make_engine(spec, log_neurons=self.logger.neurons if self.logger else None,
                                  **self._options)
        self.test_engine = None
        self._pending = None
        self.shifts = None            # this epoch's translations ([training] shift)

    def _training_engine(self) -> Engine:
        """The training build, made again if an evaluation build retired it."""
        if not self.engine.live:
            self.engine = make_engine(self.spec, log_neurons=self.logger.neurons
                                      if self.logger else None, **self._options)
        return self.engine

    def _evaluation_engine(self) -> Engine:
        """The free-phase-only build that evaluates (made on first use, or again)."""
        if self.test_engine is None or not self.test_engine.live:
            self.test_engine = make_engine(self.spec, free_only=True, **self._options)
        return self.test_engine

    def run_attrs(self) -> dict:
        return {}

    def initial_groups(self) -> dict | None:
        """What the run file stores of the STDP log when it is created."""
        if self.logger is None:
            return None
        return self.logger.selection_groups(rule_scales(self.spec, 0)[0])

    def start_epoch(self, epoch: int, first_sample: int) -> None:
        self.shifts = epoch_shifts(self.spec, self.seed, epoch, len(self.train_labels))
        if self.logger is not None:
            self.logger.start_epoch(self.weights, epoch * len(self.train_labels) + first_sample)

    def train_unit(self, epoch: int, idx, start: int) -> tuple:
        n_train, n_out = len(self.train_labels), self.spec.layers[-1]
        position = schedule_position(self.spec, epoch, start, n_train)
        rates = training_inputs(self.spec, self.train_rates, idx, self.shifts)
        result = self._training_engine().run_chunk(rates,
                                       np.eye(n_out)[self.train_labels[idx]],
                                       np.full(len(idx), SAMPLE_TRAIN), self.weights,
                                       self.biases, epoch=position, feedback=self.feedback,
                                       gains=self.gains)
        self.weights, self.biases = result.weights, result.biases
        self.feedback = result.feedback
        self._pending = (result.logged_spikes, position, start, len(idx),
                         epoch * n_train + start + len(idx))
        return predict(result.readout), result.events

    def after_unit(self) -> None:
        """Once the chunk's parameters are known finite: its STDP log."""
        if self.logger is not None:
            spikes, position, start, n, seen = self._pending
            self.logger.add_chunk(spikes, self.engine.learning_rates(position)[0],
                                  self.weights, start, n, seen)

    def parameters(self) -> dict:
        named = {f"W_{e.pre}_{e.post}": w for e, w in zip(self.spec.edges, self.weights)}
        named.update({f"B_{e.pre}_{e.post}": b for e, b in zip(self.spec.edges,
                                                               self.feedback or [])
                      if b is not None})
        named.update({f"b_{k + 1}": b for k, b in enumerate(self.biases)})
        return named

    def optimizer_state(self) -> dict:
        return {}

    def evaluate(self, progress: bool) -> tuple:
        bar = progress_bar(self.n_test, "  test", progress)
        accuracy, stats = evaluate(self._evaluation_engine(), self.weights, self.biases,
                                   self.test_rates, self.test_labels, bar, self.feedback)
        if bar is not None:
            bar.close()
        return accuracy, stats

    def epoch_groups(self, epoch: int) -> dict | None:
        return self.logger.epoch_groups(epoch) if self.logger is not None else None

    @staticmethod
    def evaluate_checkpoint(spec, point, *, seed: int, data_dir=None, download: bool = True,
                            test_samples: int | None = None, mode: str = "standalone",
                            threads: int | None = None, progress: bool = True) -> tuple:
        """(test accuracy, images) of a checkpoint's weights in the spiking free phase."""
        rates, labels = network_inputs(spec, "test", data_dir, download, test_samples,
                                       lazy=True)
        engine = make_engine(spec, mode, spec.training.chunk_samples, seed, threads=threads,
                             free_only=True)
        bar = progress_bar(len(labels), "test", progress)
        accuracy, _ = evaluate(engine, point.weights, point.biases, rates, labels, bar,
                               point.feedback)
        if bar is not None:
            bar.close()
        return accuracy, len(labels)
