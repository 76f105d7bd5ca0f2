"""A resumed run is the uninterrupted run, bit for bit, in float32 and float64, on both
paths, interrupted mid-epoch or at an epoch boundary; and its thread count is part of it."""

from __future__ import annotations

import numpy as np
import pytest

from eqspike import runfile
from eqspike.training import rate as rate_training
from eqspike.training import train as train_rate
from eqspike.spec import load_network
from eqspike.threads import blas_threads
from eqspike.training import train


def _same_parameters(a, b):
    """Every parameter (optimiser state included) equal, bit for bit, and of one dtype."""
    fa, fb = runfile.read_run(a).final, runfile.read_run(b).final
    pa = {**fa.params, **{"opt/" + k: v for k, v in fa.optimizer.items()}}
    pb = {**fb.params, **{"opt/" + k: v for k, v in fb.optimizer.items()}}
    assert set(pa) == set(pb)
    for name in pa:
        assert pa[name].dtype == pb[name].dtype, name
        np.testing.assert_array_equal(pa[name], pb[name], err_msg=name)
    ma, mb = runfile.read_run(a).metrics, runfile.read_run(b).metrics
    for name in ("epoch", "train_accuracy", "test_accuracy", "train_samples", "test_images"):
        np.testing.assert_array_equal(ma[name], mb[name], err_msg=name)


def _rate_spec(precision):
    """A small rate network with momentum (so the optimiser state matters on resume)."""
    return load_network("mnist-rate").replace(
        network={"layers": [784, 16, 10]},
        reference={"batch_size": 10, "precision": precision, "momentum": 0.9},
        training={"train_samples": 60, "epochs": 3, "seed": 3})


@pytest.mark.parametrize("precision", ["float32", "float64"])
@pytest.mark.parametrize("where", ["mid-epoch", "epoch boundary"])
def test_rate_resume_is_bit_identical(tmp_path, data_dir, monkeypatch, precision, where):
    kwargs = dict(data_dir=data_dir, test_samples=20, progress=False)
    full = train_rate(_rate_spec(precision), tmp_path / "full.h5", **kwargs).path
    assert runfile.read_run(full).final.params["W_0_1"].dtype == np.dtype(precision)

    part = tmp_path / "part.h5"
    if where == "mid-epoch":                  # killed in the 4th batch of epoch 2
        real, calls = rate_training.train_batch, []

        def dies(*args, **kw):
            calls.append(1)
            if len(calls) == 6 + 4:
                raise KeyboardInterrupt
            return real(*args, **kw)

        monkeypatch.setattr(rate_training, "train_batch", dies)
    else:                                     # killed right after epoch 1 was recorded
        real = runfile.finish_epoch

        def dies(path, epoch, *args, **kw):
            real(path, epoch, *args, **kw)
            if epoch == 1:
                raise KeyboardInterrupt

        monkeypatch.setattr(runfile, "finish_epoch", dies)
    with pytest.raises(KeyboardInterrupt):
        train_rate(_rate_spec(precision), part, **kwargs)
    monkeypatch.undo()
    train_rate(None, part, resume=True, **kwargs)
    _same_parameters(full, part)


#: A graph with two hidden layers and skip couplings (0 -> 2, 1 -> 3), its edges listed out
#: of sorted order: a resumed run must hand each edge its own weights back.
SKIP_GRAPH = {"layers": [784, 16, 12, 10],
              "edges": [{"pre": 0, "post": 1}, {"pre": 1, "post": 2}, {"pre": 0, "post": 2},
                        {"pre": 2, "post": 3}, {"pre": 1, "post": 3}]}


def _spiking_spec(precision, graph="chain"):
    spec = load_network("tiny").replace(
        spiking={"precision": precision},
        training={"train_samples": 30, "chunk_samples": 10, "epochs": 2, "seed": 4})
    if graph == "skip":
        spec = spec.replace(network=SKIP_GRAPH, learning={"rates": [0.05] * 5,
                                                          "bias_rates": [0.05] * 3})
    return spec


@pytest.mark.parametrize("precision, graph, where", [
    pytest.param(precision, "chain", where, id=f"{precision}-chain-{name}")
    for precision in ("float32", "float64")
    for where, name in (((1, 1), "mid-epoch"), ((1, 0), "epoch boundary"))
] + [pytest.param("float64", "skip", (1, 1), id="float64-skip-mid-epoch")])
def test_spiking_resume_is_bit_identical(tmp_path, data_dir, monkeypatch, precision, graph,
                                         where):
    """Killed after chunk 1 of epoch 2 (mid-epoch) or after epoch 1 was recorded (its
    sidecar says chunk 0 of epoch 2), then resumed; on the chain and on a skip graph."""
    kwargs = dict(data_dir=data_dir, mode="runtime", test_samples=10, progress=False)
    full = train(_spiking_spec(precision, graph), tmp_path / "full.h5", **kwargs).path
    real = runfile.write_latest

    def dies(path, *args, **attrs):
        real(path, *args, **attrs)
        if (attrs.get("epoch"), attrs.get("chunk")) == where:
            raise KeyboardInterrupt

    part = tmp_path / "part.h5"
    monkeypatch.setattr(runfile, "write_latest", dies)
    with pytest.raises(KeyboardInterrupt):
        train(_spiking_spec(precision, graph), part, **kwargs)
    monkeypatch.undo()
    train(None, part, resume=True, **kwargs)
    _same_parameters(full, part)


def _blas_threads_seen(monkeypatch, module, name):
    """Record the BLAS thread count each time ``module.name`` is called."""
    from threadpoolctl import threadpool_info

    seen, real = [], getattr(module, name)

    def recording(*args, **kwargs):
        seen.append({pool["num_threads"] for pool in threadpool_info()})
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, recording)
    return seen


def test_the_thread_count_is_part_of_a_run(tmp_path, data_dir, monkeypatch):
    """``threads`` sets the numerical libraries' threads (whatever the machine or the
    environment says), is recorded in the run file and is used again by a resume."""
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    spec = _rate_spec("float64").replace(training={"epochs": 2})
    seen = _blas_threads_seen(monkeypatch, rate_training, "train_batch")
    path = tmp_path / "run.h5"
    train_rate(spec.replace(training={"epochs": 1}), path, data_dir=data_dir,
               test_samples=10, progress=False, threads=2)
    assert runfile.read_run(path).attrs["threads"] == 2
    assert seen and all(s == {blas_threads(2)} for s in seen)
    seen.clear()
    monkeypatch.setenv("EQSPIKE_THREADS", "0")      # the environment says otherwise
    train_rate(None, path, resume=True, epochs=2, data_dir=data_dir, progress=False)
    assert seen and all(s == {2} for s in seen)
    with pytest.raises(ValueError, match="started with 2 thread"):
        train_rate(None, path, resume=True, epochs=3, data_dir=data_dir, progress=False,
                   threads=1)

    seen.clear()
    other = tmp_path / "default.h5"
    train_rate(spec.replace(training={"epochs": 1}), other, data_dir=data_dir,
               test_samples=10, progress=False)
    assert runfile.read_run(other).attrs["threads"] == 0 and all(s == {1} for s in seen)


def test_the_same_command_gives_the_same_weights_whatever_the_default_pool(
        tmp_path, data_dir, monkeypatch):
    """A run's weights do not follow the machine's default BLAS pool: the same run with
    the pool at 1 and at 2 threads before it starts ends with identical weights."""
    from threadpoolctl import threadpool_limits

    spec = _rate_spec("float32").replace(network={"layers": [784, 64, 10]},
                                         training={"epochs": 1})
    paths = []
    for pool in (1, 2):
        with threadpool_limits(limits=pool):
            paths.append(train_rate(spec, tmp_path / f"pool{pool}.h5", data_dir=data_dir,
                                    test_samples=10, progress=False).path)
    _same_parameters(*paths)
