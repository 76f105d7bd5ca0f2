"""Energy against accuracy as the free phase is shortened: read the output out at T < T1.

A hardware designer chooses the latency of an inference: the free phase of T steps
(T·dt of network time). For each T, :func:`energy_accuracy_curve` evaluates the run's
trained weights with a free phase of T steps (the readout window clipped to T) on the test
set, in the compiled spiking engine, and counts every spike; the counts are priced as in
:func:`eqspike.energy.energy_report` for each device, and the baseline does T steps of the
dense arithmetic. Nothing is extrapolated: the spikes per step at short T are counted, not
assumed (compare :mod:`eqspike.energy.levers`, which holds them fixed).

The curve is stored as ``RUN.energy-vs-steps.h5`` beside the run (steps, accuracy, spikes,
J per inference per device) and drawn as accuracy against energy per inference, each point
labelled with its T.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..conv import event_rows
from .counts import dense_counts, spiking_counts
from .devices import EnergyError
from .levers import energy_per_sample, with_free_steps
from .report import resolve_devices

__all__ = ["EnergyCurve", "energy_accuracy_curve", "save_curve", "plot_curve", "curve_path"]


@dataclass
class EnergyCurve:
    network: str
    dt_ms: float
    trained_free_steps: int
    baseline: str
    steps: list = field(default_factory=list)
    accuracy: list = field(default_factory=list)
    spikes: list = field(default_factory=list)        # (L, 3) mean per inference
    energy: dict = field(default_factory=dict)         # device -> [J per inference]
    unpriced: dict = field(default_factory=dict)       # device -> categories left out

    def table(self) -> str:
        names = list(self.energy)
        head = (f"{'T':>4s} {'latency':>9s} {'accuracy':>9s} {'spikes':>8s}  "
                + "  ".join(f"{n + ' (J)':>13s}" for n in names)
                + f"  {'ratio vs ' + self.baseline:>22s}")
        lines = [head, "-" * len(head)]
        device = next((n for n in names if n != self.baseline), self.baseline)
        for k, t in enumerate(self.steps):
            ratio = self.energy[self.baseline][k] / self.energy[device][k]
            lines.append(f"{t:4d} {t * self.dt_ms:7.1f}ms {100 * self.accuracy[k]:8.2f}% "
                         f"{np.sum(self.spikes[k]):8.0f}  "
                         + "  ".join(f"{self.energy[n][k]:13.3e}" for n in names)
                         + f"  {ratio:13.3g}x ({device})")
        return "\n".join(lines)


def curve_path(run_path) -> Path:
    run_path = Path(run_path)
    return run_path.with_name(f"{run_path.stem}.energy-vs-steps.h5")


def energy_accuracy_curve(run, steps, *, devices=("loihi",), baseline: str = "gpu",
                          batch: int = 50, data_dir=None, download: bool = True,
                          test_samples: int | None = None, mode: str = "standalone",
                          threads: int | None = None, progress=None) -> EnergyCurve:
    """Evaluate ``run``'s last checkpoint with free phases of ``steps`` steps each."""
    from ..data import load_dataset, rates_from_images
    from ..engine import make_engine
    from ..runfile import read_run
    from ..schedule import EVENT_PHASES
    from ..training import evaluate

    if not hasattr(run, "final"):
        run = read_run(run)
    if run.engine == "rate":
        raise EnergyError(f"{run.path}: a rate-reference run has no spikes to count; the "
                         "energy-accuracy curve needs a spiking run")
    steps = sorted({int(t) for t in steps})
    if not steps or steps[0] < 1:
        raise EnergyError(f"free-phase lengths must be >= 1, got {steps}")
    chosen, baseline = resolve_devices(devices, baseline, batch)
    spec = run.spec
    test = load_dataset(spec.network.dataset, "test", data_dir, download)
    n = len(test) if test_samples is None else min(test_samples, len(test))
    rates = rates_from_images(test.images[:n])
    labels = test.labels[:n].astype(int)
    curve = EnergyCurve(spec.name, spec.spiking.dt_ms, spec.phases.free_steps, baseline,
                        energy={name: [] for name in chosen})
    point = run.final
    for t in steps:
        # a free-phase-only build: the nudged phases' length does not matter (one step
        # keeps a short free phase valid under one-sided nudging)
        short = with_free_steps(spec, t).replace(phases={"nudge_steps": 1})
        engine = make_engine(short, mode, short.training.chunk_samples,
                             int(run.attrs["seed"]), threads=threads, free_only=True)
        accuracy, stats = evaluate(engine, point.weights, point.biases, rates, labels)
        events = stats.mean_std((event_rows(spec), len(EVENT_PHASES)))[0]
        counts = spiking_counts(short, events, "inference")
        dense = dense_counts(short, "inference", batch)
        for name, device in chosen.items():
            curve.energy[name].append(energy_per_sample(device, spec, short, counts, dense,
                                                        "inference", batch))
        curve.steps.append(t)
        curve.accuracy.append(accuracy)
        curve.spikes.append(counts["spikes"])
        if progress is not None:
            progress(t, accuracy)
    return curve


def save_curve(curve: EnergyCurve, path) -> Path:
    """Write the curve to ``path`` in one atomic write."""
    from ..runfile import atomic_write

    path = Path(path)
    with atomic_write(path, new=True) as f:
        f.attrs["format"] = "eqspike-energy-vs-steps-1"
        f.attrs["network"] = curve.network
        f.attrs["dt_ms"] = curve.dt_ms
        f.attrs["trained_free_steps"] = curve.trained_free_steps
        f.attrs["baseline"] = curve.baseline
        f["steps"] = np.asarray(curve.steps, dtype=np.int64)
        f["accuracy"] = np.asarray(curve.accuracy, dtype=float)
        f["spikes"] = np.asarray(curve.spikes, dtype=float)
        group = f.create_group("energy")
        for name, values in curve.energy.items():
            group[name] = np.asarray(values, dtype=float)
    return path


def plot_curve(curve: EnergyCurve, path, device: str | None = None) -> None:
    """Left: test accuracy against ``device``'s energy per inference, each point labelled
    with its T (the baseline's ratio range in the axis label); right: accuracy and energy
    against T."""
    from ..figures import subplots

    device = device or next(n for n in curve.energy if n != curve.baseline)
    acc = 100 * np.asarray(curve.accuracy)
    fig, (left, right) = subplots(1, 2, figsize=(11, 4.4))
    energy = np.asarray(curve.energy[device])
    left.plot(1e6 * energy, acc, "o-", label=device)
    for k, (e, a, t) in enumerate(zip(energy, acc, curve.steps)):
        left.annotate(f"T={t}", (1e6 * e, a), textcoords="offset points", fontsize=7,
                      xytext=(5, -12) if k % 2 else (-8, 6))
    ratios = np.asarray(curve.energy[curve.baseline]) / energy
    left.set_xlabel(f"energy per inference on {device} (µJ)   [{curve.baseline}: "
                    f"{ratios.min():.3g}-{ratios.max():.3g}x more]")
    left.set_ylabel("test accuracy (%)")
    left.set_title(f"{curve.network}: accuracy against energy per inference\n"
                   f"(free phase of T steps, {curve.dt_ms:g} ms each; trained at "
                   f"T1 = {curve.trained_free_steps})", fontsize=9)
    left.grid(alpha=0.3)
    right.plot(curve.steps, acc, "o-", color="tab:blue")
    right.set_xlabel("free-phase length T (steps) = latency / dt")
    right.set_ylabel("test accuracy (%)", color="tab:blue")
    twin = right.twinx()
    twin.plot(curve.steps, curve.energy[device], "s--", color="tab:red", label=device)
    twin.set_yscale("log")
    twin.set_ylabel(f"J per inference ({device})", color="tab:red")
    right.set_title("accuracy and energy against the free-phase length", fontsize=9)
    right.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
