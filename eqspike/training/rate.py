"""The rate reference's trainer: mini-batches of EP (or BPTT) updates in the one loop.

A unit of the epoch loop (:mod:`eqspike.training.loop`) is a mini-batch of ``[reference]
batch_size`` samples, one EP update each (:func:`eqspike.reference.learning.train_batch`)
with rates η·decay^epoch, or one BPTT step through the T1 free steps (``method="bptt"``,
the baseline). The test set is evaluated after T1 free steps. Each epoch's checkpoint holds
the parameters and the optimiser state (:class:`eqspike.runfile.Checkpoint`'s
``optimizer``), so a resumed run continues exactly; an interrupted epoch restarts from the
last finished one (the per-epoch random generator makes it the same epoch), in the
network's precision (a float32 run continues in float32, bit for bit). The run file is the
spiking engine's (:mod:`eqspike.runfile`, attribute ``path = "rate"``); its checkpoints
name their arrays ``W_pre_post`` (skip couplings included; conv kernels (C_out, C_in, k,
k)), ``b_l`` and, with the cross-entropy loss, ``W_out`` and ``b_out``; ``/events`` (spike
counts) is NaN.
"""

from __future__ import annotations

import numpy as np

from ..data import epoch_shifts, network_inputs, training_inputs
from ..errors import UsageError
from ..reference.learning import bptt, learning_rates, make_optimizer, train_batch
from ..reference.network import HopfieldNetwork, init_params
from ..synapses import device_gains, parameter_ranges

__all__ = ["RateTrainer", "evaluate_rate", "load_xy", "METHODS"]

#: How the rate reference can train: EP (the model) or BPTT (the baseline it is held to).
METHODS = ("ep", "bptt")


def evaluate_rate(net, x, labels, steps: int, batch: int = 500) -> float:
    """Test accuracy after ``steps`` free steps."""
    correct = 0
    for start in range(0, len(x), batch):
        correct += int(np.sum(net.predict(x[start:start + batch], steps)
                              == labels[start:start + batch]))
    return correct / len(x)


def load_xy(spec, split, data_dir, download, limit=None, lazy: bool = False):
    """The split's first ``limit`` images as rates in the network's precision (``lazy``:
    converted when indexed, :class:`eqspike.data.PixelRates`), and labels
    (:func:`eqspike.data.network_inputs`)."""
    return network_inputs(spec, split, data_dir, download, limit, spec.reference.precision,
                          lazy=lazy)


class RateTrainer:
    """The rate reference in the epoch loop (:class:`eqspike.training.loop.Trainer`)."""

    unit_name = "batch"
    resumes_mid_epoch = False

    def __init__(self, spec, seed: int, *, point=None, data_dir=None, download: bool = True,
                 test_samples: int | None = None, method: str = "ep"):
        if method not in METHODS:
            raise UsageError(f"method {method!r}: valid: {', '.join(METHODS)}")
        self.spec, self.seed, self.method = spec, seed, method
        if point is None:
            params, state = init_params(spec, seed), {}
        else:
            dtype = np.dtype(spec.reference.precision)
            params = {k: v.astype(dtype, copy=False) for k, v in point.params.items()}
            # optimiser arrays in the precision too (a scalar, Adam's step count, as stored)
            state = {k: v.astype(dtype, copy=False) if np.ndim(v) else v
                     for k, v in point.optimizer.items()}
        self.x_train, self.train_labels = load_xy(spec, "train", data_dir, download,
                                                  spec.training.train_samples, lazy=True)
        self.x_test, self.test_labels = load_xy(spec, "test", data_dir, download, test_samples,
                                                lazy=True)
        self.n_test = len(self.test_labels)
        self.net = HopfieldNetwork(spec, params)
        self.optimizer = make_optimizer(spec)
        self.optimizer.load_state_arrays(state)
        self.gains = {name: gain.astype(params[name].dtype) for name, gain in device_gains(
            spec, seed, {n: v.shape for n, v in params.items() if not n.startswith("b_")}
        ).items()}
        self.unit_size = spec.reference.batch_size
        self.rates, self.rng, self.shifts = None, None, None

    def run_attrs(self) -> dict:
        return {"method": self.method}

    def initial_groups(self) -> dict | None:
        return None

    def start_epoch(self, epoch: int, first_sample: int) -> None:
        self.rates = learning_rates(self.net, self.spec, self.spec.learning.decay ** epoch)
        self.rng = np.random.default_rng([self.seed, epoch, 1])
        self.shifts = epoch_shifts(self.spec, self.seed, epoch, len(self.train_labels))
        if self.spec.synapses != type(self.spec.synapses)():     # a chip's synapses
            self.optimizer.synapses = (self.spec.synapses, self.gains,
                                       np.random.default_rng([self.seed, epoch, 2]),
                                       parameter_ranges(self.spec))

    def train_unit(self, epoch: int, idx, start: int) -> tuple:
        n_out, ph = self.spec.layers[-1], self.spec.phases
        x = training_inputs(self.spec, self.x_train, idx, self.shifts)
        y = np.eye(n_out, dtype=self.x_train.dtype)[self.train_labels[idx]]
        if self.method == "bptt":
            grads, _ = bptt(self.net, x, y, ph.free_steps)
            prediction = self.net.predict(x, ph.free_steps)
            self.optimizer.step(self.net.params, grads, self.rates)
        else:
            prediction = train_batch(self.net, self.optimizer, x, y, self.spec, self.rates,
                                     self.rng)
        return prediction, None

    def after_unit(self) -> None:
        pass

    def parameters(self) -> dict:
        return dict(self.net.params)

    def optimizer_state(self) -> dict:
        return self.optimizer.state_arrays()

    def evaluate(self, progress: bool) -> tuple:
        return (evaluate_rate(self.net, self.x_test, self.test_labels,
                              self.spec.phases.free_steps), None)

    def epoch_groups(self, epoch: int) -> dict | None:
        return None

    @staticmethod
    def evaluate_checkpoint(spec, point, *, seed: int, data_dir=None, download: bool = True,
                            test_samples: int | None = None, progress: bool = True,
                            **engine_options) -> tuple:
        """(test accuracy, images) of a checkpoint's parameters after T1 free steps."""
        x, labels = load_xy(spec, "test", data_dir, download, test_samples)
        net = HopfieldNetwork(spec, point.params)
        return evaluate_rate(net, x, labels, spec.phases.free_steps), len(labels)
