"""Measured baselines, chip presets with sources, the levers and the energy-accuracy curve."""

from __future__ import annotations

import re

import numpy as np
import pytest

from eqspike import energy
from eqspike.energy import baseline
from eqspike.cli import main
from eqspike.energy.levers import Levers, assumptions_table, ratio_at, threshold
from eqspike.energy.curve import energy_accuracy_curve, save_curve
from eqspike.runfile import read_run


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from .conftest import DATA_DIR

    if DATA_DIR is None:
        pytest.skip("no MNIST data (set EQSPIKE_DATA)")
    path = tmp_path_factory.mktemp("run") / "r.h5"
    assert main(["train", "--network", "tiny", "--mode", "runtime", "--train-samples", "20",
                 "--test-samples", "20", "--data-dir", str(DATA_DIR), "--out", str(path),
                 "--quiet"]) == 0
    return path


def test_every_preset_constant_has_its_source_beside_it():
    """No constant without a source: each priced field of eqspike/energy/devices.toml carries a
    comment, and each preset a source; the loaded presets are the file's numbers."""
    import tomllib

    text = energy.PRESETS_FILE.read_text()
    table = None
    for line in text.splitlines():
        if m := re.match(r"^\[(\w+)\]", line):
            table = m.group(1)
        elif table and (m := re.match(r"^(\w+)\s*=\s*([^#]+?)\s*(#.*)?$", line)):
            key, value, comment = m.groups()
            if key in energy.ENERGY_FIELDS:
                assert comment and len(comment) > 10, f"[{table}] {key} has no source"
    raw = tomllib.loads(text)
    for name, fields in raw.items():
        device = energy.DEVICES[name]
        assert device.source, name
        for key in energy.ENERGY_FIELDS:
            if key in fields:
                assert np.isnan(fields[key]) == np.isnan(getattr(device, key))
                if not np.isnan(fields[key]):
                    assert getattr(device, key) == fields[key]
    assert {"truenorth", "odin", "pcm_crossbar"} <= set(raw)
    assert energy.DEVICES["odin"].synop == pytest.approx(12.7e-12)
    assert energy.DEVICES["pcm_crossbar"].kind == "in_memory"


def test_unpublished_constants_are_unpriced_not_zero(tiny_run):
    report = energy.energy_report(tiny_run, ["truenorth", "loihi"], "gpu")
    # TrueNorth has no on-chip learning: training is n/a; inference prices the synaptic
    # events alone and is marked as a lower bound
    assert np.isnan(report.total("truenorth", "training"))
    assert report.unpriced["truenorth"]["inference"] == ["spikes", "neuron_updates"]
    assert report.total("truenorth", "inference") == pytest.approx(
        2.5e-12 * report.counts["inference"]["synaptic_events"].sum())
    table = report.table()
    assert ">=" in table and "n/a" in table and "lower bound" in table
    assert not report.unpriced["loihi"]["inference"]


def test_stated_power_and_rapl_counters(tmp_path, monkeypatch):
    meter = baseline.StatedPower(20.0)
    a = meter.read()
    assert meter.read() >= a and "not a measured energy" in meter.label()
    with pytest.raises(baseline.BaselineError):
        baseline.StatedPower(0.0)
    # a fake powercap tree: one package, whose counter wraps around between two reads
    package = tmp_path / "intel-rapl:0"
    package.mkdir()
    (tmp_path / "intel-rapl:0:0").mkdir()          # a subdomain: not counted twice
    (package / "max_energy_range_uj").write_text("1000000\n")
    (package / "energy_uj").write_text("999000\n")
    rapl = baseline.RaplMeter(str(tmp_path))
    assert rapl.read() == 0.0
    (package / "energy_uj").write_text("500\n")    # +1000 µJ to the wrap, then +500 µJ
    assert rapl.read() == pytest.approx(1500e-6)
    monkeypatch.setattr(baseline, "RAPL_ROOT", str(tmp_path / "none"))
    with pytest.raises(baseline.BaselineError, match="--watts"):
        baseline.find_meter("numpy")


def test_a_measured_baseline_round_trips_and_prices_the_run(tiny_run, tmp_path):
    measured = baseline.measure_baseline(tiny_run, samples=6, batches=(1, 3), watts=10.0)
    assert [(m.workload, m.batch) for m in measured.measurements] == [
        ("inference", 1), ("inference", 3), ("training", 1), ("training", 3)]
    for m in measured.measurements:
        assert m.samples == 6 and m.seconds > 0
        assert m.joules == pytest.approx(10.0 * m.seconds, rel=0.2)   # time x stated W
    path = baseline.save_baseline(measured, tmp_path / "b.h5")
    again = baseline.read_baseline(path)
    assert again == measured
    report = energy.energy_report(tiny_run, ["loihi"], str(path), batch=3)
    assert report.baseline == "cpu-b3" and {"cpu-b1", "cpu-b3"} <= set(report.energy)
    by_batch = {(m.workload, m.batch): m.joules_per_sample for m in measured.measurements}
    assert report.total("cpu-b3", "training") == pytest.approx(by_batch["training", 3])
    assert report.ratio("loihi", "inference") == pytest.approx(
        by_batch["inference", 3] / report.total("loihi", "inference"))
    with pytest.raises(energy.EnergyError, match="not at --batch 50"):
        energy.energy_report(tiny_run, ["loihi"], str(path), batch=50)
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(baseline.BaselineError):
        baseline.read_baseline(tmp_path / "junk.h5")


class _Foreign(np.lib.mixins.NDArrayOperatorsMixin):
    """An array type that NumPy must dispatch to and never silently convert, as CuPy's:
    checks that the reference code runs on a GPU array module through NumPy's protocols."""

    def __init__(self, a):
        self.a = np.asarray(a)

    def __array__(self, *args, **kwargs):
        raise TypeError("implicit conversion to a NumPy array")

    @staticmethod
    def _unwrap(x):
        if isinstance(x, _Foreign):
            return x.a
        if isinstance(x, (list, tuple)):
            return type(x)(_Foreign._unwrap(v) for v in x)
        return x

    @staticmethod
    def _wrap(x):
        return _Foreign(x) if isinstance(x, np.ndarray) else x

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        inputs = [self._unwrap(x) for x in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(self._unwrap(x) for x in kwargs["out"])
            getattr(ufunc, method)(*inputs, **kwargs)
            return self
        return self._wrap(getattr(ufunc, method)(*inputs, **kwargs))

    def __array_function__(self, func, types, args, kwargs):
        args = [self._unwrap(a) for a in args]
        kwargs = {k: self._unwrap(v) for k, v in kwargs.items()}
        if "like" in kwargs:
            kwargs.pop("like")
        return self._wrap(func(*args, **kwargs))

    def __getattr__(self, name):
        value = getattr(self.a, name)
        if callable(value):
            return lambda *a, **k: self._wrap(value(*[self._unwrap(v) for v in a], **k))
        return self._wrap(value)

    def __getitem__(self, key):
        return _Foreign(self.a[self._unwrap(key)])

    def __len__(self):
        return len(self.a)


class _ForeignModule:
    @staticmethod
    def asarray(a, dtype=None):
        return _Foreign(np.asarray(a, dtype=dtype))


def _ep_step(run, xp, x, y):
    from eqspike.energy.baseline import _estimator, _workload, twin_network

    net = twin_network(run, xp, "float64")
    _workload(net, run.spec, _estimator(run.spec), xp.asarray(x), xp.asarray(y), "training")
    prediction = net.predict(xp.asarray(x), run.spec.phases.free_steps)
    unwrap = (lambda v: v.a) if xp is _ForeignModule else (
        (lambda v: v.get()) if xp is not np else (lambda v: v))
    return {k: unwrap(v) for k, v in net.params.items()}, unwrap(prediction)


def test_the_reference_runs_on_a_foreign_array_module_unchanged(tiny_run):
    """The GPU path's premise, checked on the CPU: every array the reference makes follows
    its inputs' type (no silent NumPy conversion), with the same numbers."""
    run = read_run(tiny_run)
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1, (3, run.spec.layers[0])), np.eye(run.spec.layers[-1])[[0, 1, 2]]
    expected, p_expected = _ep_step(run, np, x, y)
    got, p_got = _ep_step(run, _ForeignModule, x, y)
    assert set(got) == set(expected)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name])
    np.testing.assert_array_equal(p_got, p_expected)


def test_gpu_arithmetic_equals_the_numpy_reference(tiny_run):
    cupy = pytest.importorskip("cupy", reason="no CuPy: the GPU comparison needs a CUDA GPU "
                                              "and eqspike[gpu]")
    try:
        cupy.cuda.runtime.getDeviceCount()
    except Exception:                                   # pragma: no cover
        pytest.skip("CuPy is installed but no CUDA GPU is present")
    run = read_run(tiny_run)
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1, (8, run.spec.layers[0])), np.eye(run.spec.layers[-1])[rng.integers(0, run.spec.layers[-1], 8)]
    expected, p_expected = _ep_step(run, np, x, y)
    got, p_got = _ep_step(run, cupy, x, y)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(p_got, p_expected)


def test_levers_reproduce_the_report_and_find_their_thresholds(tiny_run):
    report = energy.energy_report(tiny_run, ["loihi"], "gpu")
    levers = Levers.from_report(report, read_run(tiny_run).spec, "loihi")
    for workload in ("inference", "training"):
        assert ratio_at(levers, workload) == pytest.approx(report.ratio("loihi", workload))
    now = ratio_at(levers, "inference")
    value, current = threshold(levers, "inference", "scale", 3 * now)
    assert current == 1.0 and value == pytest.approx(3.0, rel=1e-4)   # linear in the scale
    value, current = threshold(levers, "inference", "synop", 1.5 * now)
    assert value < current
    assert ratio_at(levers, "inference", synop=value) == pytest.approx(1.5 * now, rel=1e-4)
    # cheaper events and fewer input events raise the ratio
    assert ratio_at(levers, "inference", synop=current / 10) > now
    assert ratio_at(levers, "inference", input_scale=0.1) > now
    table = assumptions_table(levers)
    assert "energy per synaptic event" in table and "free-phase length" in table
    with pytest.raises(energy.EnergyError, match="neuromorphic"):
        Levers.from_report(report, read_run(tiny_run).spec, "gpu")


def test_energy_accuracy_curve_counts_every_free_phase_length(tiny_run, tmp_path):
    from .conftest import DATA_DIR

    curve = energy_accuracy_curve(tiny_run, [3, 6], devices=["loihi"], baseline="gpu",
                                  data_dir=DATA_DIR, test_samples=10, mode="runtime")
    assert curve.steps == [3, 6] and all(0 <= a <= 1 for a in curve.accuracy)
    loihi = curve.energy["loihi"]
    assert 0 < loihi[0] < loihi[1]                    # a longer phase costs more
    assert curve.energy["gpu"][0] < curve.energy["gpu"][1]
    path = save_curve(curve, tmp_path / "c.h5")
    import h5py

    with h5py.File(path) as f:
        np.testing.assert_array_equal(f["steps"][:], [3, 6])
        np.testing.assert_allclose(f["energy/loihi"][:], loihi)
    assert "ratio vs gpu" in curve.table()


def test_energy_cli_measures_and_a_failed_start_leaves_nothing(tiny_run, tmp_path, capsys,
                                                             monkeypatch):
    import shutil

    run = tmp_path / "run.h5"
    shutil.copy(tiny_run, run)
    monkeypatch.setattr(baseline, "RAPL_ROOT", str(tmp_path / "no-rapl"))
    assert main(["energy", str(run), "--measure", "--measure-samples", "4",
                 "--measure-batches", "1,2", "--batch", "2", "--quiet"]) == 2
    assert "--watts" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]
    png = tmp_path / "e.png"
    assert main(["energy", str(run), "--measure", "--watts", "15", "--measure-samples", "4",
                 "--measure-batches", "1,2", "--batch", "2", "--device", "loihi",
                 "--levers", "--out", str(png), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "stated: time x 15 W" in out and "cpu-b2" in out and "What each lever" in out
    assert (tmp_path / "run.baseline-cpu.h5").exists()
    assert (tmp_path / "run.levers.png").stat().st_size > 10_000
