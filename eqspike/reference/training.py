"""Training the rate reference by EP (or BPTT) into a run file of the same layout.

An epoch presents ``train_samples`` images in mini-batches of ``[reference] batch_size``
(a new order every epoch from ``seed`` and the epoch), one EP update per batch
(:func:`eqspike.reference.learning.train_batch`), with rates η·decay^epoch; then the test
set is evaluated after T1 free steps. Each epoch's checkpoint holds the parameters and the
optimiser state, so ``--resume`` continues exactly. The run file is the spiking path's
(:mod:`eqspike.runfile`, attribute ``path = "rate"``): checkpoints name their arrays
``W_pre_post`` (skip couplings included; conv kernels (C_out, C_in, k, k)), ``b_l`` and, with
the cross-entropy loss, ``W_out`` and ``b_out``; ``/events`` (spike counts) is NaN.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .. import runfile
from ..data import load_dataset, rates_from_images
from ..errors import UsageError
from ..spec import SpecError
from ..threads import numerical_threads, resolve_threads, resumed_threads
from ..training import TrainingDiverged, TrainResult, progress_bar, report_epoch
from .learning import bptt, learning_rates, make_optimizer, train_batch
from .network import HopfieldNetwork, init_params

__all__ = ["train_rate", "evaluate_rate", "check_finite_params"]

OPTIMIZER_PREFIX = "opt/"


def check_finite_params(params: dict, where: str) -> None:
    """Raise :class:`~eqspike.training.TrainingDiverged` naming the first non-finite one."""
    for name, value in params.items():
        if not np.all(np.isfinite(value)):
            raise TrainingDiverged(f"non-finite {name} {where}")


def evaluate_rate(net, x, labels, steps: int, batch: int = 500) -> float:
    """Test accuracy after ``steps`` free steps."""
    correct = 0
    for start in range(0, len(x), batch):
        correct += int(np.sum(net.predict(x[start:start + batch], steps)
                              == labels[start:start + batch]))
    return correct / len(x)


def load_xy(spec, split, data_dir, download, limit=None):
    data = load_dataset(spec.network.dataset, split, data_dir, download)
    n = len(data) if limit is None else min(limit, len(data))
    x = rates_from_images(data.images[:n]).astype(spec.reference.precision)
    if x.shape[1] != spec.layers[0]:
        raise SpecError(f"{spec.name}: the input layer has {spec.layers[0]} neurons but "
                         f"{spec.network.dataset} images have {x.shape[1]} pixels")
    return x, data.labels[:n].astype(int)


def train_rate(spec, run_path, *, data_dir=None, resume: bool = False,
               test_samples: int | None = None, progress: bool = True, download: bool = True,
               method: str = "ep", run_attrs: dict | None = None, threads: int | None = None,
               overwrite: bool = False, epochs: int | None = None) -> TrainResult:
    """Train the rate reference of ``spec`` by EP (``method='bptt'``: by BPTT through the T1
    free steps, the baseline) into ``run_path``.

    As for the spiking path, the data are read before a run file exists, and the test-set
    size is recorded and reused by a resume. An interrupted epoch restarts from the last
    finished one (its checkpoint holds the optimiser state), so its metrics are an
    uninterrupted epoch's; its ``train_seconds`` are those of the stretch that finished it.
    The parameters and the optimiser state resume in the network's precision (a float32 run
    continues in float32, bit for bit). ``run_attrs``: more attributes of a new run file (a
    sweep's name and point); ``threads``: the numerical libraries' threads
    (:mod:`eqspike.threads`; recorded, and reused by a resume). An existing ``run_path`` is
    refused unless ``overwrite``; ``epochs``, with ``resume``: go on to that many epochs in
    all, once every check has passed.
    """
    run_path = Path(run_path)
    if resume:
        runfile.remove_stale_temporaries(run_path)
        run = runfile.read_run(run_path)
        if run.attrs.get("path") != "rate":
            raise runfile.RunFileError(f"{run_path}: not a rate-reference run")
        spec, seed = run.spec, int(run.attrs["seed"])
        test_samples = runfile.resumed_test_samples(run, test_samples)
        threads = resumed_threads(run.attrs.get("threads"), threads)
        method = run.attrs.get("method", "ep")
        dtype = np.dtype(spec.reference.precision)
        point = run.checkpoint()
        params = {k: v.astype(dtype, copy=False) for k, v in point.params.items()
                  if not k.startswith(OPTIMIZER_PREFIX)}
        # optimiser arrays in the precision too (a scalar, Adam's step count, as stored)
        state = {k[len(OPTIMIZER_PREFIX):]: v.astype(dtype, copy=False) if np.ndim(v) else v
                 for k, v in point.params.items() if k.startswith(OPTIMIZER_PREFIX)}
        start_epoch = len(run.metrics["epoch"])
        test_history = list(run.metrics["test_accuracy"])
        train_history = list(run.metrics["train_accuracy"])
        if epochs is not None:
            runfile.extend_epochs(run_path, epochs)
            spec = runfile.read_run(run_path).spec
    else:
        if method not in ("ep", "bptt"):
            raise UsageError(f"method {method!r}: valid: ep, bptt")
        runfile.check_new_run(run_path, overwrite)
        threads = resolve_threads(threads)
        seed = spec.training.seed
        params, state, start_epoch = init_parameters_checked(spec, seed), {}, 0
        test_history, train_history = [], []
    cfg, ph = spec.training, spec.phases
    x_train, y_train = load_xy(spec, "train", data_dir, download, cfg.train_samples)
    x_test, y_test = load_xy(spec, "test", data_dir, download, test_samples)
    if not resume:
        runfile.create_run(run_path, spec, seed, params, None, kind="rate",
                           extra={"method": method, "test_samples": int(test_samples or 0),
                                  "threads": threads, **(run_attrs or {})})
    with numerical_threads(threads):
        net = HopfieldNetwork(spec, params)
        optimizer = make_optimizer(spec)
        optimizer.load_state_arrays(state)
        batch = spec.reference.batch_size
        n_out = spec.layers[-1]
        events = {name: np.full((len(spec.layers), 3), np.nan) for name in runfile.EVENT_FIELDS}
        t_start = time.time()
        for epoch in range(start_epoch, cfg.epochs):
            order = np.random.default_rng([seed, epoch]).permutation(len(x_train))
            rng = np.random.default_rng([seed, epoch, 1])
            rates = learning_rates(net, spec, spec.learning.decay ** epoch)
            bar = progress_bar(len(x_train), f"epoch {epoch + 1}/{cfg.epochs}", progress)
            t_epoch, correct = time.time(), 0
            for start in range(0, len(x_train), batch):
                idx = order[start:start + batch]
                x, y = x_train[idx], np.eye(n_out, dtype=x_train.dtype)[y_train[idx]]
                if method == "bptt":
                    grads, _ = bptt(net, x, y, ph.free_steps)
                    prediction = net.predict(x, ph.free_steps)
                    optimizer.step(net.params, grads, rates)
                else:
                    prediction = train_batch(net, optimizer, x, y, spec, rates, rng)
                check_finite_params(net.params, f"after batch {start // batch + 1} of epoch "
                                                f"{epoch + 1} (last good checkpoint kept in "
                                                f"{run_path})")
                correct += int(np.sum(prediction == y_train[idx]))
                if bar is not None:
                    bar.update(len(idx))
                    if (start // batch) % 50 == 0:
                        bar.set_postfix(train_acc=f"{correct / (start + len(idx)):.3f}")
            if bar is not None:
                bar.close()
            train_seconds = time.time() - t_epoch
            t_eval = time.time()
            test_acc = evaluate_rate(net, x_test, y_test, ph.free_steps)
            eval_seconds = time.time() - t_eval
            train_acc = correct / len(x_train)
            saved = dict(net.params)
            saved.update({OPTIMIZER_PREFIX + k: v for k, v in optimizer.state_arrays().items()})
            runfile.finish_epoch(run_path, epoch + 1, saved, None,
                                 {"epoch": epoch + 1, "train_accuracy": train_acc,
                                  "test_accuracy": test_acc, "train_seconds": train_seconds,
                                  "eval_seconds": eval_seconds, "train_samples": len(x_train),
                                  "test_images": len(x_test)},
                                 events, samples_seen=(epoch + 1) * len(x_train))
            test_history.append(test_acc)
            train_history.append(train_acc)
            report_epoch(epoch, train_acc, test_history, len(x_test), train_seconds, eval_seconds,
                         run_path, progress)
        runfile.set_status(run_path, "complete")
        return TrainResult(run_path, test_history, train_history, time.time() - t_start)


def init_parameters_checked(spec, seed):
    """:func:`~eqspike.reference.network.init_params`, building the network once so that an
    inconsistent definition fails before any file is written."""
    params = init_params(spec, seed)
    HopfieldNetwork(spec, params)
    return params
