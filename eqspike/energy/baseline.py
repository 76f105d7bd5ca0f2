"""Measured baselines: the rate reference of a run's network, timed and metered on this machine.

A hardware researcher compares a neuromorphic estimate with what a conventional processor
really spends. :func:`measure_baseline` runs the dense arithmetic of the run's network — its
rate twin (:func:`eqspike.reference.network.spiking_twin` for a spiking run, the run's own
parameters for a rate run), with the reference's own code — for ``samples`` samples at each
batch size, in two workloads:

* inference: T1 free steps from zero and the prediction (:meth:`HopfieldNetwork.predict`);
* training: one EP step per batch, the free phase, the nudged phase(s) of the run's estimator
  (symmetric: ±β) and the SGD update (:func:`eqspike.reference.learning.ep_gradients`).

Energy comes from the first of these the platform exposes:

==========  ================================================================================
``nvml``    NVIDIA's total-energy counter of the GPU (``nvmlDeviceGetTotalEnergyConsumption``,
            mJ; nvidia-ml-py), the board's energy, idle share included
``rapl``    the RAPL powercap counters of the CPU packages (``/sys/class/powercap/*/energy_uj``,
            µJ; wrap-around handled), the packages' energy, other processes' share included
``stated``  seconds × a power the user states (``--watts``): not a measurement of energy
==========  ================================================================================

and every table labels the method. The result is a small HDF5 file (``RUN.baseline-NAME.h5``
beside the run, written atomically) that ``eqspike energy --baseline FILE`` prices against.

GPU: ``backend='cupy'`` runs the same NumPy reference code on CuPy arrays (NumPy dispatches
its functions to CuPy through ``__array_function__``; the reference creates arrays with
``like=``), so the GPU arithmetic is the reference's, not a second implementation; the test
suite checks it equal to NumPy where a GPU exists.
"""

from __future__ import annotations

import glob
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .devices import Device, EnergyError

__all__ = ["BaselineError", "Meter", "RaplMeter", "NvmlMeter", "StatedPower", "find_meter",
           "Measurement", "Baseline", "measure_baseline", "save_baseline", "load_baseline",
           "baseline_path", "twin_network"]

FORMAT = "eqspike-baseline-1"
WORKLOADS = ("inference", "training")
RAPL_ROOT = "/sys/class/powercap"


class BaselineError(EnergyError):
    """No way to obtain energy, a bad baseline file, or bad measurement settings."""


class Meter:
    """An energy counter: :meth:`read` returns joules since an arbitrary origin."""

    method = "none"

    def label(self) -> str:
        return self.method

    def read(self) -> float:
        raise NotImplementedError


class RaplMeter(Meter):
    """The package domains of the RAPL powercap interface (Intel, and AMD since Linux 5.8)."""

    method = "rapl"

    def __init__(self, root: str | None = None):
        root = RAPL_ROOT if root is None else root
        self.domains = []
        for path in sorted(glob.glob(os.path.join(root, "*rapl:[0-9]*"))):
            if path.count(":") != 1:          # subdomains (core, uncore, dram) are inside
                continue
            try:
                with open(os.path.join(path, "energy_uj")) as f:
                    int(f.read())
                with open(os.path.join(path, "max_energy_range_uj")) as f:
                    wrap = int(f.read())
            except (OSError, ValueError):
                continue
            self.domains.append((path, wrap))
        if not self.domains:
            raise BaselineError(f"no readable RAPL package counter under {root}")
        self._last = [self._raw(p) for p, _ in self.domains]
        self._total = 0.0

    @staticmethod
    def _raw(path) -> int:
        with open(os.path.join(path, "energy_uj")) as f:
            return int(f.read())

    def label(self) -> str:
        return f"rapl ({len(self.domains)} package counter(s), whole packages)"

    def read(self) -> float:
        for k, (path, wrap) in enumerate(self.domains):
            now = self._raw(path)
            step = now - self._last[k]
            self._total += (step if step >= 0 else step + wrap) * 1e-6
            self._last[k] = now
        return self._total


class NvmlMeter(Meter):
    """NVIDIA's total-energy counter of GPU ``index`` (Volta and later)."""

    method = "nvml"

    def __init__(self, index: int = 0):
        try:
            import pynvml
        except ImportError:
            raise BaselineError("the GPU's energy counter needs nvidia-ml-py "
                                "(pip install 'eqspike[gpu]')") from None
        try:
            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            self.device = pynvml.nvmlDeviceGetName(self._handle)
            pynvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)
        except pynvml.NVMLError as exc:
            raise BaselineError(f"NVML: {exc}") from None
        self._nvml = pynvml

    def label(self) -> str:
        name = self.device.decode() if isinstance(self.device, bytes) else self.device
        return f"nvml ({name}, whole board)"

    def read(self) -> float:
        return self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) * 1e-3


class StatedPower(Meter):
    """Energy = time × a power the user states: labelled as such, never as measured."""

    method = "stated"

    def __init__(self, watts: float):
        if not (np.isfinite(watts) and watts > 0):
            raise BaselineError(f"--watts must be a power > 0, got {watts!r}")
        self.watts = float(watts)
        self._start = time.perf_counter()

    def label(self) -> str:
        return f"stated: time x {self.watts:g} W (not a measured energy)"

    def read(self) -> float:
        return (time.perf_counter() - self._start) * self.watts


def find_meter(backend: str = "numpy", watts: float | None = None) -> Meter:
    """The platform's counter (NVML for ``cupy``, RAPL for ``numpy``), or ``StatedPower``
    when ``watts`` is given (it overrides any counter). No counter and no ``watts``: an
    error that says so."""
    if watts is not None:
        return StatedPower(watts)
    try:
        return NvmlMeter() if backend == "cupy" else RaplMeter()
    except BaselineError as exc:
        where = "GPU" if backend == "cupy" else "CPU"
        raise BaselineError(f"no energy counter for this {where} ({exc}); state its power "
                            "with --watts W (then energy = time x W, labelled as such)") from None


def _array_module(backend: str):
    if backend == "numpy":
        return np, (lambda: None)
    if backend == "cupy":
        try:
            import cupy
        except ImportError:
            raise BaselineError("backend 'cupy' needs CuPy and a CUDA GPU "
                                "(pip install 'eqspike[gpu]')") from None
        return cupy, cupy.cuda.Device().synchronize
    raise BaselineError(f"unknown backend {backend!r}; valid: numpy, cupy")


def twin_network(run, xp=np, dtype=np.float64):
    """The rate network of a run's last checkpoint, its arrays in ``xp`` of ``dtype``."""
    from ..reference.network import HopfieldNetwork, spiking_twin

    point = run.final
    if run.engine == "rate":
        params = dict(point.params)
        net = HopfieldNetwork(run.spec, params)
    else:
        net = spiking_twin(run.spec, point.weights, point.biases)
    net.params = {k: xp.asarray(v, dtype=dtype) for k, v in net.params.items()}
    return net


def _estimator(spec) -> str:
    if spec.network.path == "rate":
        return spec.reference.estimator
    return "symmetric" if spec.nudged_phases == 2 else "one_sided"


@dataclass
class Measurement:
    workload: str
    batch: int
    samples: int
    seconds: float
    joules: float

    @property
    def joules_per_sample(self) -> float:
        return self.joules / self.samples

    @property
    def seconds_per_sample(self) -> float:
        return self.seconds / self.samples


@dataclass
class Baseline:
    """What :func:`measure_baseline` measured, and how."""

    name: str
    platform: str
    backend: str
    dtype: str
    threads: str
    method: str                   # rapl | nvml | stated
    method_label: str
    network: str
    layers: tuple
    free_steps: int
    nudge_steps: int
    estimator: str
    measurements: list = field(default_factory=list)

    def devices(self) -> list:
        """One ``measured`` :class:`~eqspike.energy.Device` per batch size."""
        out = []
        for batch in sorted({m.batch for m in self.measurements}):
            per = {m.workload: m.joules_per_sample for m in self.measurements
                   if m.batch == batch}
            out.append(Device(name=f"{self.name}-b{batch}", kind="measured",
                              inference=per.get("inference", float("nan")),
                              training=per.get("training", float("nan")),
                              source=f"measured on {self.platform} ({self.backend}, "
                                     f"{self.dtype}, batch {batch}); energy: "
                                     f"{self.method_label}"))
        return out

    def table(self) -> str:
        head = (f"{'workload':10s} {'batch':>5s} {'samples':>8s} {'ms/sample':>10s} "
                f"{'J/sample':>10s} {'W (mean)':>9s}")
        lines = [f"{self.name}: {self.platform}, {self.backend} {self.dtype}, threads "
                 f"{self.threads}; energy: {self.method_label}", head, "-" * len(head)]
        for m in self.measurements:
            lines.append(f"{m.workload:10s} {m.batch:5d} {m.samples:8d} "
                         f"{1e3 * m.seconds_per_sample:10.4f} {m.joules_per_sample:10.3e} "
                         f"{m.joules / m.seconds:9.1f}")
        return "\n".join(lines)


def _platform(backend: str) -> str:
    if backend == "cupy":
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"]
        return name.decode() if isinstance(name, bytes) else str(name)
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()} x{os.cpu_count()}"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _workload(net, spec, estimator: str, x, y, workload: str):
    """One batch of a workload (the reference's own functions)."""
    from ..reference.learning import SGD, ep_gradients

    ph = spec.phases
    if workload == "inference":
        return net.predict(x, ph.free_steps)
    grads, _ = ep_gradients(net, x, y, ph.free_steps, ph.nudge_steps, ph.beta, estimator)
    SGD().step(net.params, grads, {name: 1e-3 for name in grads})
    return grads


def measure_baseline(run, *, samples: int = 1000, batches=(1, 50), backend: str = "numpy",
                     dtype: str = "float32", meter: Meter | None = None, watts=None,
                     name: str | None = None, data_dir=None, download: bool = True,
                     progress=None) -> Baseline:
    """Time and meter the rate twin of ``run`` on this machine (see the module docstring).

    ``samples`` test images per (workload, batch), after one warm-up batch; ``dtype``
    float32 (what a GPU baseline would use) or float64 (the reference's default).
    """
    from ..data import network_inputs
    from ..runfile import read_run

    if not hasattr(run, "final"):
        run = read_run(run)
    if samples < 1 or any(b < 1 for b in batches):
        raise BaselineError("samples and batch sizes must be >= 1")
    if dtype not in ("float32", "float64"):
        raise BaselineError(f"dtype {dtype!r}: valid float32, float64")
    xp, synchronize = _array_module(backend)
    meter = meter or find_meter(backend, watts)
    spec = run.spec
    x_all, labels = network_inputs(spec, "test", data_dir, download,
                                   samples + max(batches), spec.reference.precision)
    y_all = np.eye(spec.layers[-1])[labels]
    x_all, y_all = xp.asarray(x_all, dtype=dtype), xp.asarray(y_all, dtype=dtype)
    estimator = _estimator(spec)
    threads = os.environ.get("OMP_NUM_THREADS") or os.environ.get("OPENBLAS_NUM_THREADS") \
        or f"all ({os.cpu_count()} cores)"
    result = Baseline(name or ("gpu" if backend == "cupy" else "cpu"), _platform(backend),
                      backend, dtype, threads if backend == "numpy" else "-", meter.method,
                      meter.label(), spec.name, tuple(spec.layers), spec.phases.free_steps,
                      spec.phases.nudge_steps, estimator)
    for workload in WORKLOADS:
        for batch in batches:
            net = twin_network(run, xp, dtype)          # fresh weights for every series
            _workload(net, spec, estimator, x_all[:batch], y_all[:batch], workload)
            synchronize()
            done = 0
            e0, t0 = meter.read(), time.perf_counter()
            while done < samples:
                n = min(batch, samples - done)
                start = batch + done
                _workload(net, spec, estimator, x_all[start:start + n],
                          y_all[start:start + n], workload)
                done += n
            synchronize()
            seconds, joules = time.perf_counter() - t0, meter.read() - e0
            result.measurements.append(Measurement(workload, batch, samples, seconds, joules))
            if progress is not None:
                progress(result.measurements[-1])
    return result


def baseline_path(run_path, name: str) -> Path:
    """``RUN.baseline-NAME.h5`` beside the run."""
    run_path = Path(run_path)
    return run_path.with_name(f"{run_path.stem}.baseline-{name}.h5")


def save_baseline(baseline: Baseline, path) -> Path:
    """Write ``baseline`` to ``path`` in one atomic write."""
    from ..runfile import atomic_write

    path = Path(path)
    with atomic_write(path, new=True) as f:
        f.attrs["format"] = FORMAT
        for key in ("name", "platform", "backend", "dtype", "threads", "method",
                    "method_label", "network", "estimator"):
            f.attrs[key] = getattr(baseline, key)
        f.attrs["layers"] = np.asarray(baseline.layers)
        f.attrs["free_steps"] = baseline.free_steps
        f.attrs["nudge_steps"] = baseline.nudge_steps
        rows = baseline.measurements
        f["workload"] = np.array([m.workload for m in rows], dtype="S16")
        for key in ("batch", "samples"):
            f[key] = np.array([getattr(m, key) for m in rows], dtype=np.int64)
        for key in ("seconds", "joules"):
            f[key] = np.array([getattr(m, key) for m in rows], dtype=float)
    return path


def read_baseline(path) -> Baseline:
    """The :class:`Baseline` stored in ``path``."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise BaselineError(f"{path}: not an eqspike baseline file (format "
                                    f"{f.attrs.get('format')!r})")
            a = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
            rows = [Measurement(w.decode(), int(b), int(n), float(s), float(j))
                    for w, b, n, s, j in zip(f["workload"][:], f["batch"][:], f["samples"][:],
                                             f["seconds"][:], f["joules"][:])]
    except OSError as exc:
        raise BaselineError(f"cannot read baseline file {path}: {exc}") from None
    return Baseline(str(a["name"]), str(a["platform"]), str(a["backend"]), str(a["dtype"]),
                    str(a["threads"]), str(a["method"]), str(a["method_label"]),
                    str(a["network"]), tuple(int(v) for v in a["layers"]),
                    int(a["free_steps"]), int(a["nudge_steps"]), str(a["estimator"]), rows)


def load_baseline(path) -> list:
    """The measured devices (one per batch size) of a baseline file."""
    return read_baseline(path).devices()
