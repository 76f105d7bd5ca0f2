"""Training, run files and the CLI, end to end on the tiny network in runtime mode."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from eqspike import runfile
from eqspike.cli import main
from eqspike.engine import RuntimeEngine, StandaloneEngine
from eqspike.spec import load_network
from eqspike.schedule import SAMPLE_EVAL, SAMPLE_TRAIN, sample_steps
from eqspike.training import TrainingDiverged, check_finite, train


def _tiny(samples=40, epochs=1, shift=0):
    return load_network("tiny").replace(training={"train_samples": samples, "epochs": epochs,
                                                  "chunk_samples": 20, "shift": shift})


def test_train_writes_a_complete_run_file(tmp_path, data_dir):
    path = tmp_path / "run.h5"
    result = train(_tiny(epochs=2), path, data_dir=data_dir, mode="runtime", test_samples=30,
                   progress=False)
    run = runfile.read_run(path)
    assert run.attrs["status"] == "complete" and run.attrs["path"] == "spiking"
    assert set(run.checkpoints) == {"initial", "epoch_0001", "epoch_0002", "latest"}
    assert list(run.metrics["epoch"]) == [1, 2]
    assert run.metrics["test_accuracy"].tolist() == result.test_accuracy
    assert run.events["train_mean"].shape == (2, 3, 3)
    assert run.events["train_mean"][:, 1:, 2].sum() > 0  # hidden/output spikes when nudged
    assert np.all(run.events["eval_mean"][:, :, 1:] == 0)  # evaluation: no learning, no nudge
    assert np.all(run.events["train_std"] >= 0)
    assert not np.allclose(run.final.weights[0], run.checkpoints["initial"].weights[0])
    assert run.spec.layers == (784, 32, 10)
    assert "brian2" in run.attrs["versions"]


def test_same_seed_same_weights(tmp_path, data_dir):
    a = train(_tiny(), tmp_path / "a.h5", data_dir=data_dir, mode="runtime", test_samples=10,
              progress=False)
    b = train(_tiny(), tmp_path / "b.h5", data_dir=data_dir, mode="runtime", test_samples=10,
              progress=False)
    wa, wb = runfile.read_run(a.path).final, runfile.read_run(b.path).final
    for x, y in zip(wa.weights + wa.biases, wb.weights + wb.biases):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("shift", [0, 2])
def test_resume_continues_to_the_same_weights(tmp_path, data_dir, monkeypatch, shift):
    """Interrupted right after chunk 1 of epoch 2 was saved, then resumed: same weights
    (with [training] shift too: the resumed epoch draws the same translations)."""
    kwargs = dict(data_dir=data_dir, mode="runtime", test_samples=10, progress=False)
    full = train(_tiny(samples=40, epochs=2, shift=shift), tmp_path / "full.h5", **kwargs)

    write = runfile.write_latest

    def write_then_die(path, *args, **attrs):
        write(path, *args, **attrs)
        if attrs.get("epoch") == 1 and attrs.get("chunk") == 1:
            raise KeyboardInterrupt

    part = tmp_path / "part.h5"
    monkeypatch.setattr(runfile, "write_latest", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(_tiny(samples=40, epochs=2, shift=shift), part, **kwargs)
    monkeypatch.setattr(runfile, "write_latest", write)
    assert runfile.read_run(part).attrs["status"] == "running"
    train(None, part, resume=True, **kwargs)
    a, b = runfile.read_run(full.path).final, runfile.read_run(part).final
    for x, y in zip(a.weights + a.biases, b.weights + b.biases):
        np.testing.assert_array_equal(x, y)
    assert list(runfile.read_run(part).metrics["epoch"]) == [1, 2]


@pytest.mark.parametrize("every, expected", [("epoch", [0.0, 0.0, 1.0, 1.0]),
                                              ("chunk", [0.0, 0.5, 1.0, 1.5])])
def test_learning_rate_schedule_position_of_each_chunk(tmp_path, data_dir, monkeypatch, every,
                                                       expected):
    """``decay_every``: each training chunk runs at η·decay^position, position = the epoch
    ("epoch") or the epoch plus the fraction of it already seen ("chunk")."""
    from eqspike.training import spiking as training

    spec = _tiny(samples=40, epochs=2).replace(learning={"decay": 0.5, "decay_every": every})
    seen = []
    make = training.make_engine

    def recording(*args, **kwargs):
        engine = make(*args, **kwargs)
        run = engine.run_chunk

        def run_chunk(rates, targets, kinds, weights, biases, epoch=0, **rest):
            if np.all(kinds == SAMPLE_TRAIN):
                seen.append((epoch, engine.learning_rates(epoch)))
            return run(rates, targets, kinds, weights, biases, epoch=epoch, **rest)

        engine.run_chunk = run_chunk
        return engine

    monkeypatch.setattr(training, "make_engine", recording)
    train(spec, tmp_path / "run.h5", data_dir=data_dir, mode="runtime", test_samples=5,
          progress=False)
    assert [position for position, _ in seen] == expected
    base_w, base_b = seen[0][1]
    for position, (lr_w, lr_b) in seen:
        np.testing.assert_allclose(lr_w, np.array(base_w) * 0.5 ** position, rtol=1e-12)
        np.testing.assert_allclose(lr_b, np.array(base_b) * 0.5 ** position, rtol=1e-12)


def test_accuracy_drop_warning_names_the_best_checkpoint():
    from eqspike.training import accuracy_drop_warning

    assert accuracy_drop_warning([0.93], "r.h5") is None
    assert accuracy_drop_warning([0.93, 0.94, 0.935], "r.h5") is None
    message = accuracy_drop_warning([0.9386, 0.9455, 0.8908], "r.h5")
    assert "fell to 0.8908 from 0.9455 at epoch 2" in message
    assert "--checkpoint epoch_0002" in message


def test_non_finite_weights_name_the_layer():
    with pytest.raises(TrainingDiverged, match="W_1_2"):
        check_finite({"W_0_1": np.zeros(2), "W_1_2": np.array([1.0, np.nan]),
                      "b_1": np.zeros(2)}, "at step 3")


#: The default network's scheme (graded input, state window rate, symmetric nudging) on a
#: small chain, and a graph with two hidden layers and skip couplings (from the input,
#: 0 -> 2, and between hidden layers, 1 -> 3) with tiny's rate-coded input and symmetric
#: nudging, and the feedback through copies of the weights (whose buffers are written
#: through linked variables). Between them, every pathway of the builder compiles in a test.
GRADED = {"spiking": {"input_code": "graded"}, "phases": {"nudging": "symmetric"},
          "learning": {"window_rate": "state"}}
SKIP_EDGES = [{"pre": 0, "post": 1}, {"pre": 1, "post": 2}, {"pre": 0, "post": 2},
              {"pre": 2, "post": 3}, {"pre": 1, "post": 3}]
SCHEMES = {"graded": {"network": {"layers": [20, 12, 4]}, **GRADED},
           "skip": {"network": {"layers": [20, 12, 8, 4], "edges": SKIP_EDGES},
                    "spiking": {"feedback": "copy"}}}


def _small(scheme):
    changes = {k: dict(v) for k, v in SCHEMES[scheme].items()}
    n_edges = len(changes["network"].get("edges", [])) or len(changes["network"]["layers"]) - 1
    n_layers = len(changes["network"]["layers"]) - 1
    changes.setdefault("learning", {}).update(rates=[0.1] * n_edges,
                                              bias_rates=[0.1] * n_layers)
    return load_network("tiny").replace(**changes)


def _chunk_args(n=7, spec=None):
    """A chunk of n samples (the last two evaluated) and initial weights for ``spec``'s
    graph (default: the 20-12-4 chain)."""
    spec = spec or _small("graded")
    sizes = spec.layers
    rng = np.random.default_rng(2)
    rates = rng.uniform(0, 1, (n, sizes[0])) * (rng.uniform(0, 1, (n, sizes[0])) > 0.3)
    targets = np.eye(sizes[-1])[rng.integers(0, sizes[-1], n)]
    kinds = np.r_[np.full(n - 2, SAMPLE_TRAIN), np.full(2, SAMPLE_EVAL)]
    weights = [rng.uniform(-0.3, 0.5, (sizes[e.pre], sizes[e.post])) for e in spec.edges]
    return rates, targets, kinds, weights, [np.zeros(m) for m in sizes[1:]]


@pytest.mark.parametrize("scheme", ["graded", "skip", "delta"])
def test_a_free_phase_only_build_evaluates_as_the_training_build_does(scheme):
    """Evaluation samples in a build of T1-step samples (``free_only``) give the readouts
    and the event counts of the same samples evaluated in the training build, whose
    samples idle through the nudged slots: the free phase does not depend on what follows
    it. Such a build's samples are T1 steps long, and it refuses a training sample."""
    spec = _small("skip" if scheme == "delta" else scheme)
    if scheme == "delta":
        spec = spec.replace(spiking={"code": "delta", "input_code": "graded",
                                     "delta_theta": 0.05}, learning={"rule": "delta"})
    rates, targets, _, weights, biases = _chunk_args(5, spec)
    kinds = np.full(5, SAMPLE_EVAL)
    full = RuntimeEngine(spec, 5).run_chunk(rates, targets, kinds, weights, biases)
    free = RuntimeEngine(spec, 5, free_only=True)
    short = free.run_chunk(rates, targets, kinds, weights, biases)
    assert full.readout.sum() > 0 and full.events[:, 1:].sum() > 0
    np.testing.assert_array_equal(short.readout, full.readout)
    np.testing.assert_array_equal(short.events, full.events)
    for x, y in zip(short.weights + short.biases, weights + biases):
        np.testing.assert_array_equal(x, y)
    assert sample_steps(spec, free_only=True) == spec.phases.free_steps < spec.steps_per_sample
    with pytest.raises(ValueError, match="cannot train"):
        free.run_chunk(rates, targets, np.full(5, SAMPLE_TRAIN), weights, biases)


@pytest.mark.standalone
@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_standalone_equals_runtime(build_cache, scheme):
    """The compiled build and the runtime mode give the same weights, readouts and event
    counts on a small network."""
    spec = _small(scheme)
    rates, targets, kinds, weights, biases = _chunk_args(spec=spec)
    runtime = RuntimeEngine(spec, 10).run_chunk(rates, targets, kinds, weights, biases)
    compiled = StandaloneEngine(spec, 10, cache_dir=build_cache)
    standalone = compiled.run_chunk(rates, targets, kinds, weights, biases)
    for x, y in zip(runtime.weights + runtime.biases, standalone.weights + standalone.biases):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(runtime.readout, standalone.readout)
    np.testing.assert_array_equal(runtime.events, standalone.events)
    assert not np.allclose(runtime.weights[0], weights[0])
    # a second chunk through the same binary continues from the returned weights
    again = compiled.run_chunk(rates, targets, kinds, standalone.weights, standalone.biases)
    runtime2 = RuntimeEngine(spec, 10).run_chunk(rates, targets, kinds, runtime.weights,
                                                 runtime.biases)
    for x, y in zip(again.weights + again.biases, runtime2.weights + runtime2.biases):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)


@pytest.mark.standalone
def test_openmp_threads_give_the_same_results(build_cache):
    """A build with 2 OpenMP threads gives the weights, readouts and counts of the
    sequential build, to the bit (the tolerance docs/cli.md states: none), on the skip
    graph (two edges write into each of layers 2 and 3; the feedback copies)."""
    spec = _small("skip")
    args = _chunk_args(9, spec)   # chunks of 10: the sequential build is the one above's
    sequential = StandaloneEngine(spec, 10, cache_dir=build_cache, threads=0).run_chunk(*args)
    threaded_engine = StandaloneEngine(spec, 10, cache_dir=build_cache, threads=2)
    assert threaded_engine.directory.name.endswith("-t2")
    threaded = threaded_engine.run_chunk(*args)
    for x, y in zip(sequential.weights + sequential.biases, threaded.weights + threaded.biases):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(sequential.readout, threaded.readout)
    np.testing.assert_array_equal(sequential.events, threaded.events)


@pytest.mark.standalone
def test_a_build_without_event_counters_learns_the_same(build_cache):
    """``count_events=False`` (what bench_counters compares against) runs and learns as the
    counted build does; the signals that only the counters read are not passed to it."""
    spec, args = _small("graded"), _chunk_args(9)
    counted = StandaloneEngine(spec, 10, cache_dir=build_cache).run_chunk(*args)
    plain = StandaloneEngine(spec, 10, cache_dir=build_cache, count_events=False).run_chunk(*args)
    assert plain.events is None and counted.events is not None
    for x, y in zip(counted.weights + counted.biases, plain.weights + plain.biases):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(counted.readout, plain.readout)


def test_thread_count_from_the_environment(monkeypatch):
    from eqspike.engine import DEFAULT_THREADS, default_threads

    monkeypatch.delenv("EQSPIKE_THREADS", raising=False)
    assert default_threads() == DEFAULT_THREADS
    monkeypatch.setenv("EQSPIKE_THREADS", "2")
    assert default_threads() == 2
    monkeypatch.setenv("EQSPIKE_THREADS", "two")
    with pytest.raises(ValueError, match="EQSPIKE_THREADS='two'"):
        default_threads()


@pytest.mark.standalone
def test_standalone_same_seed_same_weights(tmp_path):
    """Two compiled engines with one seed give identical weights, random (Bernoulli) spikes
    included; another seed does not."""
    spec = load_network("tiny").replace(network={"layers": [12, 8, 3]},
                                        spiking={"code": "bernoulli"},
                                        learning={"rates": [0.1, 0.1], "bias_rates": [0.1, 0.1]})
    rng = np.random.default_rng(4)
    n = 6
    args = (rng.uniform(0, 1, (n, 12)), np.eye(3)[rng.integers(0, 3, n)],
            np.full(n, SAMPLE_TRAIN), [rng.uniform(-0.3, 0.6, (12, 8)),
                                       rng.uniform(-0.5, 0.5, (8, 3))], [np.zeros(8), np.zeros(3)])
    engine = StandaloneEngine(spec, n, seed=7, cache_dir=tmp_path)
    directory, code = engine.directory, (engine.directory / "objects.cpp").read_text()
    first = engine.run_chunk(*args)
    second = StandaloneEngine(spec, n, seed=7, cache_dir=tmp_path).run_chunk(*args)
    engine = StandaloneEngine(spec, n, seed=8, cache_dir=tmp_path)
    other = engine.run_chunk(*args)
    for a, b in zip(first.weights + first.biases, second.weights + second.biases):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.weights[0], other.weights[0])
    # later builds in the process reuse the slot with the same generated code (no implicit
    # object renamed because a retired network was still alive), so make recompiles nothing
    assert engine.directory == directory
    assert (directory / "objects.cpp").read_text() == code


@pytest.mark.standalone
def test_a_retired_standalone_engine_says_so(build_cache):
    # two builds the tests above compiled (the session's cache): nothing to compile here
    first = StandaloneEngine(_small("graded"), 10, cache_dir=build_cache)
    StandaloneEngine(_small("skip"), 10, cache_dir=build_cache)
    with pytest.raises(RuntimeError, match="retired"):
        first.run_chunk(*_chunk_args(3))


# --- CLI ---------------------------------------------------------------------------------

def test_cli_train_and_evaluate(tmp_path, data_dir, capsys):
    out = tmp_path / "cli.h5"
    assert main(["train", "--network", "tiny", "--mode", "runtime", "--train-samples", "20",
                 "--test-samples", "20", "--data-dir", str(data_dir), "--out", str(out),
                 "--quiet"]) == 0
    assert "test accuracy" in capsys.readouterr().out
    assert main(["evaluate", str(out), "--mode", "runtime", "--test-samples", "20",
                 "--data-dir", str(data_dir), "--quiet"]) == 0
    assert "[epoch_0001]: test accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["train", "--network", "nope"], "unknown network 'nope'; valid:"),
    (["evaluate", "missing.h5"], "no such run file"),
    (["train", "--network", "tiny", "--data-dir", "/nonexistent", "--no-download"],
     "is missing"),
    (["train", "--resume", "x.h5", "--seed", "2"], "--resume continues a run"),
    (["train", "--resume", "x.h5", "--epochs", "2"], "x.h5: no such run file"),
])
def test_cli_errors_are_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("eqspike: error:") and message in err
    assert err.count("\n") == 1


def test_cli_rejects_bad_numbers(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--epochs", "0"])
    assert exc.value.code == 2
    assert "expected an integer >= 1, got 0" in capsys.readouterr().err


def test_latest_checkpoint_lives_beside_the_run_file(tmp_path):
    path = tmp_path / "grow.h5"
    spec = load_network("tiny")
    w = [np.zeros((784, 32)), np.zeros((32, 10))]
    b = [np.zeros(32), np.zeros(10)]
    runfile.create_run(path, spec, 1, w, b)
    size = path.stat().st_size
    sizes = []
    for k in range(8):
        runfile.write_latest(path, [x + k for x in w], b, chunk=k)
        sizes.append(runfile.latest_path(path).stat().st_size)
    assert path.stat().st_size == size and len(set(sizes)) == 1
    latest = runfile.read_run(path).checkpoints["latest"]
    assert latest.attrs["chunk"] == 7 and latest.weights[0][0, 0] == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grow.h5", "grow.latest.h5"]


def test_a_write_that_fails_midway_leaves_the_run_file_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "safe.h5"
    spec = load_network("tiny")
    w = [np.ones((784, 32)), np.ones((32, 10))]
    b = [np.ones(32), np.ones(10)]
    runfile.create_run(path, spec, 1, w, b)
    before = path.read_bytes()

    def die(group, weights, biases, attrs):
        group.create_dataset("W_0_1", data=np.zeros((784, 32)))
        raise KeyboardInterrupt  # as if killed in the middle of the write

    monkeypatch.setattr(runfile, "_write_group", die)
    with pytest.raises(KeyboardInterrupt):
        runfile.finish_epoch(path, 1, w, b, {}, {}, samples_seen=1)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["safe.h5"]  # no temporary file left
    assert set(runfile.read_run(path).checkpoints) == {"initial"}


def test_run_file_errors(tmp_path):
    text = tmp_path / "not.h5"
    text.write_text("hello")
    with pytest.raises(runfile.RunFileError, match="not a readable HDF5"):
        runfile.read_run(text)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = 1
    with pytest.raises(runfile.RunFileError, match="not an eqspike run file"):
        runfile.read_run(other)
    partial = tmp_path / "partial.h5"
    with h5py.File(partial, "w") as f:
        f.attrs["format"] = runfile.FORMAT
    with pytest.raises(runfile.RunFileError, match="lacks a field"):
        runfile.read_run(partial)


def test_learning_curve_script_reads_run_files(tmp_path, data_dir):
    import importlib.util

    from .conftest import ROOT

    spec_ = importlib.util.spec_from_file_location("lc", ROOT / "analysis" / "learning_curve.py")
    lc = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(lc)
    run = train(_tiny(samples=20, epochs=2), tmp_path / "r.h5", data_dir=data_dir,
                mode="runtime", test_samples=10, progress=False)
    out = tmp_path / "curve.png"
    assert lc.main([str(run.path), "--out", str(out)]) == 0
    assert out.stat().st_size > 1000
    rows = (tmp_path / "curve.csv").read_text().splitlines()
    assert rows[0].startswith("run,epoch") and len(rows) == 3
    assert lc.main([str(tmp_path / "missing.h5")]) == 2


def test_a_sweep_points_curve_is_labelled_by_its_settings():
    import importlib.util

    from .conftest import ROOT

    spec_ = importlib.util.spec_from_file_location("lc", ROOT / "analysis" / "learning_curve.py")
    lc = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(lc)
    # a sweep names its points p{number}-{setting=value joined by -}-seed{seed}
    label = lc.run_label("p002-coupling=asymmetric-decay=1e-05-seed1",
                         "mnist-long@p002-coupling=asymmetric-decay=1e-05-seed1")
    assert label == "mnist-long: coupling=asymmetric, decay=1e-05"
    assert lc.run_label("conv", "mnist-conv") == "conv (mnist-conv)"


def test_spiking_vs_rate_script(tmp_path, data_dir, monkeypatch):
    import importlib.util

    from .conftest import ROOT

    spec_ = importlib.util.spec_from_file_location("svr", ROOT / "analysis" / "spiking_vs_rate.py")
    svr = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(svr)
    run = train(_tiny(samples=20), tmp_path / "r.h5", data_dir=data_dir, mode="runtime",
                test_samples=10, progress=False)
    monkeypatch.setenv("EQSPIKE_DATA", str(data_dir))
    out = tmp_path / "svr.png"
    assert svr.main([str(run.path), "--samples", "5", "--out", str(out), "--test-samples", "30",
                     "--mode", "runtime"]) == 0
    text = (tmp_path / "svr.csv").read_text()
    assert text.startswith("layer,neurons,mean_abs_rate_difference")
    assert "test_accuracy_rate_model_same_weights" in text
    agreement = float(text.split("same_class_both_paths,")[1].split()[0])
    assert 0.0 <= agreement <= 1.0
    assert out.stat().st_size > 1000


def test_spiking_vs_rate_reads_the_sent_values_of_a_delta_network():
    """With the delta code the script's per-neuron value is the sent value ρ̂ averaged over
    the readout window: at θ = 0, the rate twin's ρ(u) over the same steps (the twin is the
    network step for step, tests/test_delta.py), to 1e-12, for two evaluation samples."""
    import importlib.util

    from .conftest import ROOT
    from .test_delta import _inputs, _parameters, delta_spec, twin_states

    spec_ = importlib.util.spec_from_file_location("svr", ROOT / "analysis" / "spiking_vs_rate.py")
    svr = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(svr)
    spec = delta_spec()
    weights, biases = _parameters(21)
    rates, targets = _inputs(2, 22)
    got = svr.spiking_rates(spec, weights, biases, rates)
    t1, window = spec.phases.free_steps, spec.spiking.readout_steps
    for n in range(2):
        states = twin_states(spec, weights, biases, rates[n:n + 1], targets[n:n + 1])
        for layer, values in enumerate(got):
            want = np.mean([np.clip(states[t][layer][0], 0, 1)
                            for t in range(t1 - window, t1)], axis=0)
            assert want.max() > 0.05
            np.testing.assert_allclose(values[n], want, rtol=0, atol=1e-12)


def test_version_names_eqspike_and_brian2(capsys):
    import eqspike

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"eqspike {eqspike.__version__} (brian2 ")


def test_networks_is_an_aligned_table_with_each_engine(capsys):
    from eqspike.spec import available_networks

    assert main(["networks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, rows = lines[0], lines[1:]
    assert header.split()[:5] == ["name", "engine", "dataset", "layers", "edges"]
    assert [row.split()[0] for row in rows] == available_networks()
    for column in ("engine", "dataset", "layers", "edges", "description"):
        start = header.index(column)
        assert all(row[start - 2:start] == "  " and row[start] != " " for row in rows), column
    deep = next(row for row in rows if row.startswith("mnist-deep "))
    assert deep.split()[1] == "spiking" and "6, 2 skip" in deep


@pytest.mark.parametrize("command", ["train", "evaluate", "energy", "plasticity", "gdu",
                                     "sweep", "networks"])
def test_every_subcommand_help_ends_with_examples(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    examples = out.split("examples:\n", 1)[1]
    assert f"eqspike {command}" in examples


@pytest.mark.parametrize("network", ["tiny", "mnist-rate"])
def test_each_training_image_is_shifted_as_drawn(tmp_path, data_dir, monkeypatch, network):
    """With [training] shift, what the engine (spiking) or EP's batch step (rate) receives
    is each image of the epoch's order translated by its :func:`random_shifts` row
    (shift_images of the rates, tested pixel by pixel in test_data.py); the spiking
    evaluation receives the test images as they are."""
    from eqspike.data import network_inputs, random_shifts, shift_images
    from eqspike.training import rate as rate_training

    spec = load_network(network).replace(training={"train_samples": 20, "epochs": 1,
                                                   "shift": 2, "seed": 4})
    seen = []                   # (inputs, kinds: None for a rate batch)
    if network == "tiny":
        spec, options = spec.replace(training={"chunk_samples": 20}), {"mode": "runtime"}
        run_chunk = RuntimeEngine.run_chunk

        def capture(self, rates, targets, kinds, *args, **kw):
            seen.append((np.asarray(rates).copy(), kinds.copy()))
            return run_chunk(self, rates, targets, kinds, *args, **kw)

        monkeypatch.setattr(RuntimeEngine, "run_chunk", capture)
    else:
        spec, options = spec.replace(reference={"batch_size": 20}), {}
        train_batch = rate_training.train_batch

        def capture(net, optimizer, x, *args):
            seen.append((np.asarray(x).copy(), None))
            return train_batch(net, optimizer, x, *args)

        monkeypatch.setattr(rate_training, "train_batch", capture)
    train(spec, tmp_path / "run.h5", data_dir=data_dir, test_samples=10, progress=False,
          **options)
    rates, _ = network_inputs(spec, "train", data_dir, limit=20)
    order = np.random.default_rng([4, 0]).permutation(20)
    shifts = random_shifts(4, 0, 20, 2)
    want = shift_images(rates[order], (1, 28, 28), shifts[order])
    trained = [x for x, kinds in seen if kinds is None or np.all(kinds == SAMPLE_TRAIN)]
    assert len(trained) == 1 and np.any(shifts[order] != 0)
    np.testing.assert_array_equal(trained[0], want.astype(trained[0].dtype))
    assert not np.array_equal(want, rates[order])
    evaluated = [x for x, kinds in seen if kinds is not None and np.any(kinds == SAMPLE_EVAL)]
    if network == "tiny":
        test, _ = network_inputs(spec, "test", data_dir, limit=10)
        assert len(evaluated) == 1
        np.testing.assert_array_equal(evaluated[0][:10], test.astype(evaluated[0].dtype))
