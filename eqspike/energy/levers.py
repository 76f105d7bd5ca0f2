"""What it would take: the energy ratio against a baseline as the levers of a design move.

EqSpike (Martin et al., iScience 2021) estimated ~10³ less energy than a GPU per inference
and ~10² per training sample. An :class:`~eqspike.energy.EnergyReport` gives the ratio of a
trained run under stated constants; this module moves one lever at a time, from the run's
own counts, and finds where the ratio crosses a target:

* ``synop``: the energy per synaptic event;
* ``neuron_update``: the energy per neuron update;
* ``input_scale``: the input events per sample, as a factor of the run's (a sparser or
  denser input code: every input event's fan-out scales with it);
* ``free_steps``: the free-phase length T1 (the hidden and output layers keep their
  counted spikes per free step; a graded input still sends one event per sample, a rate
  input's spikes scale with T1; the baseline's dense steps scale too);
* ``scale``: every constant of the device divided by one factor (a chip k× more efficient
  across the board).

The counts come from :func:`eqspike.energy.spiking_counts` and
:func:`~eqspike.energy.dense_counts` on the changed counts and network, and a measured
baseline is scaled by the dense arithmetic it would do (its time is proportional to it).
Spikes per free step held fixed is an assumption the energy–accuracy curve over T
(:mod:`eqspike.energy.curve`) measures instead of assuming.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..conv import row_sources
from .counts import dense_counts, spiking_counts
from .devices import EnergyError
from .report import device_energy

__all__ = ["with_free_steps", "Levers", "ratio_at", "energy_per_sample", "threshold", "assumptions_table",
           "plot_levers", "TARGETS"]

#: EqSpike's published ratios against a GPU (Martin et al. 2021).
TARGETS = {"inference": 1e3, "training": 1e2}


def with_free_steps(spec, steps: int):
    """``spec`` with T1 = ``steps`` (readout window and one-sided window clipped to it)."""
    ph, sp = spec.phases, spec.spiking
    steps = int(steps)
    nudge = ph.nudge_steps if spec.nudged_phases == 2 else min(ph.nudge_steps, steps)
    return spec.replace(phases={"free_steps": int(steps), "nudge_steps": nudge},
                        spiking={"readout_steps": min(sp.readout_steps, int(steps))})


@dataclasses.dataclass
class Levers:
    """A run's counts and the two devices compared."""

    spec: object
    spikes: dict          # workload -> (R, 3) counted events per sample (conv.event_rows)
    device: object        # the neuromorphic device whose constants move
    baseline: object      # the conventional or measured device
    batch: int = 50

    @classmethod
    def from_report(cls, report, run_spec, device: str):
        """The levers of ``report``'s run for ``device`` (one of the report's devices, or
        any preset), against the report's baseline."""
        from .devices import DEVICES

        chosen = report.devices.get(device) or DEVICES.get(device)
        if chosen is None:
            raise EnergyError(f"unknown device {device!r}; valid: {', '.join(DEVICES)}")
        if chosen.kind != "neuromorphic":
            raise EnergyError(f"the levers move a neuromorphic device's constants; "
                              f"{device!r} is {chosen.kind}")
        return cls(run_spec, {w: c["events"] for w, c in report.counts.items()},
                   chosen, report.devices[report.baseline], report.batch)


def _scaled_spikes(spec, events, input_scale: float, steps: int | None):
    """The event counts (rows of :func:`eqspike.conv.event_rows`) with the input's events
    scaled by ``input_scale`` and the free phase's by ``steps`` / T1 (each row follows the
    layer whose spikes it counts, :func:`eqspike.conv.row_sources`; a graded input's
    events do not scale with the steps)."""
    spikes = np.array(events, dtype=float)
    source = row_sources(spec)
    spikes[source == 0] *= input_scale
    if steps is not None:
        t1, t2 = spec.phases.free_steps, spec.phases.nudge_steps
        layers = source >= (1 if spec.spiking.input_code == "graded" else 0)
        if spec.nudged_phases == 2:            # part 0 is the whole free phase
            spikes[layers, 0] *= steps / t1
        else:                                  # part 0: the free steps before the window
            quiet = max(t1 - t2, 1)
            new_t2 = min(t2, steps)
            spikes[layers, 0] *= max(steps - new_t2, 0) / quiet
            spikes[layers, 1] *= new_t2 / t2
    return spikes


def _total(values: dict) -> float:
    return float(sum(np.sum(v) for v in values.values()))


def ratio_at(levers: Levers, workload: str, *, synop=None, neuron_update=None,
             input_scale: float = 1.0, free_steps: int | None = None,
             scale: float = 1.0) -> float:
    """Baseline energy / device energy per sample with the levers moved."""
    spec = levers.spec if free_steps is None else with_free_steps(levers.spec, free_steps)
    spikes = _scaled_spikes(levers.spec, levers.spikes[workload], input_scale, free_steps)
    device = levers.device
    synop_field = synop_of(levers.spec)
    changes = {k: v for k, v in ((synop_field, synop), ("neuron_update", neuron_update))
               if v is not None}
    if scale != 1.0:
        changes.update({k: getattr(device, k) / scale
                        for k in (synop_field, "spike", "neuron_update", "synaptic_update")
                        if k not in changes})
    device = dataclasses.replace(device, **changes)
    counts = spiking_counts(spec, spikes, workload)
    dense = dense_counts(spec, workload, levers.batch)
    mine = _total(device_energy(device, counts, dense, workload))
    theirs = energy_per_sample(levers.baseline, levers.spec, spec, counts, dense, workload,
                               levers.batch)
    return theirs / mine if mine > 0 else float("inf")   # nothing priced left: unbounded


def synop_of(spec) -> str:
    """The device constant a synaptic event of ``spec`` is priced at: ``graded_synop`` for
    the delta code's graded events, else ``synop`` (the lever ``synop`` moves it)."""
    return "graded_synop" if spec.spiking.code == "delta" else "synop"


def energy_per_sample(device, measured_spec, spec, counts: dict, dense: dict, workload: str,
                      batch: int) -> float:
    """``device``'s J per sample for the network ``spec``: priced from the counts, or, for
    a measured device (measured on ``measured_spec``), the measurement scaled by the dense
    operations ``spec`` does against ``measured_spec`` (its time is proportional to them)."""
    if device.kind != "measured":
        return _total(device_energy(device, counts, dense, workload))
    ref = dense_counts(measured_spec, workload, batch)
    ops = dense["macs"].sum() + dense["activations"].sum()
    return getattr(device, workload) * ops / (ref["macs"].sum() + ref["activations"].sum())


def threshold(levers: Levers, workload: str, lever: str, target: float):
    """The lever's value at which the ratio reaches ``target`` (others as in the run), or
    None if this lever alone cannot reach it. Returns (value, the run's value)."""
    device = levers.device
    if lever == "free_steps":
        t1 = levers.spec.phases.free_steps
        reach = [t for t in range(1, 4 * t1 + 1)
                 if ratio_at(levers, workload, free_steps=t) >= target]
        return (max(reach) if reach else None), t1
    now = {"synop": getattr(device, synop_of(levers.spec)),
           "neuron_update": device.neuron_update,
           "input_scale": 1.0, "scale": 1.0}[lever]
    decreasing = lever != "scale"          # less energy or fewer events raise the ratio

    def ratio(v):
        return ratio_at(levers, workload, **{lever: v})

    lo, hi = (now * 1e-9, now * 1e9) if now > 0 else (1e-24, 1e-6)
    if decreasing and ratio(0.0) < target:
        return None, now
    if not decreasing and ratio(hi) < target:
        return None, now
    for _ in range(200):                   # bisection in log space
        mid = np.sqrt(lo * hi)
        ok = ratio(mid) >= target
        if decreasing:
            lo, hi = (mid, hi) if ok else (lo, mid)
        else:
            lo, hi = (lo, mid) if ok else (mid, hi)
        if hi / lo < 1 + 1e-6:
            break
    return (lo if decreasing else hi), now


_LEVER_TEXT = {
    "synop": ("energy per synaptic event", "J", "{:.3g} J"),
    "neuron_update": ("energy per neuron update", "J", "{:.3g} J"),
    "input_scale": ("input events per sample", "x", "{:.3g} x the run's"),
    "free_steps": ("free-phase length T1", "steps", "T1 <= {}"),
    "scale": ("every constant of the device / k", "k", "k >= {:.3g}"),
}


def assumptions_table(levers: Levers, targets: dict = TARGETS) -> str:
    """"Assumptions under which EqSpike's figures hold": per workload and lever, the value
    that alone brings the ratio to the target, from the run's counts."""
    lines = [f"What each lever alone must reach for {levers.device.name} to be "
             f"{', '.join(f'{t:g}x ({w})' for w, t in targets.items())} below "
             f"{levers.baseline.name} (EqSpike's published ratios; the other levers as in "
             "the run):"]
    head = f"  {'workload':10s} {'now':>9s}  {'lever':34s} {'run value':>12s}  needed"
    lines += [head, "  " + "-" * (len(head) + 20)]
    for workload, target in targets.items():
        now = ratio_at(levers, workload)
        for lever in ("synop", "neuron_update", "input_scale", "free_steps", "scale"):
            text, _, fmt = _LEVER_TEXT[lever]
            value, current = threshold(levers, workload, lever, target)
            if now >= target:
                needed = "already reached"
            elif value is None:
                best = (max(ratio_at(levers, workload, free_steps=t) for t in range(1, 4 * levers.spec.phases.free_steps + 1))
                        if lever == "free_steps" else ratio_at(levers, workload, **{lever: 0.0}))
                needed = f"out of reach alone (at best {best:.3g}x)"
            else:
                needed = fmt.format(value)
            current_text = (f"{current}" if lever == "free_steps" else f"{current:.3g}")
            lines.append(f"  {workload:10s} {now:8.3g}x  {text:34s} {current_text:>12s}  "
                         f"{needed}")
    return "\n".join(lines)


def plot_levers(levers: Levers, path, targets: dict = TARGETS, presets: dict | None = None):
    """Ratio maps (log colour) over the energy per synaptic event and (left) the input
    events per sample, (right) the free-phase length, for inference and training, with the
    10² and 10³ contours; the run is the star, preset chips' synaptic-event energies are
    marked on the axis."""
    from ..figures import subplots

    synops = np.logspace(-15, -9, 49)
    scales = np.logspace(-3, 1, 41)
    t1 = levers.spec.phases.free_steps
    steps = np.unique(np.linspace(1, 3 * t1, 40).astype(int))
    fig, axes = subplots(2, 2, figsize=(11, 8.2), constrained_layout=True)
    n_input = levers.spikes["inference"][0].sum()          # row 0: the input layer's spikes
    for row, workload in enumerate(("inference", "training")):
        for col, (name, ys) in enumerate((("input_scale", scales), ("free_steps", steps))):
            ax = axes[row, col]
            grid = np.array([[ratio_at(levers, workload, synop=e, **{name: y})
                              for e in synops] for y in ys])
            y_axis = ys * n_input if name == "input_scale" else ys
            mesh = ax.pcolormesh(synops, y_axis, np.log10(grid), shading="nearest",
                                 cmap="viridis", vmin=-1, vmax=5)
            lines = ax.contour(synops, y_axis, grid, levels=[1e1, 1e2, 1e3, 1e4],
                               colors=["w", "orange", "red", "w"],
                               linewidths=[0.8, 2, 2, 0.8])
            ax.clabel(lines, fmt={1e1: "10x", 1e2: "100x", 1e3: "1000x", 1e4: "10^4x"},
                      fontsize=8)
            run_y = n_input if name == "input_scale" else t1
            ax.plot(getattr(levers.device, synop_of(levers.spec)), run_y, "*", color="magenta", ms=14, mec="k",
                    label=f"this run on {levers.device.name}: "
                          f"{ratio_at(levers, workload):.3g}x")
            for label, e in (presets or {}).items():
                ax.axvline(e, color="0.85", lw=0.8, ls=":")
                ax.text(e, 1.0, label, rotation=90, va="top", ha="right", fontsize=7,
                        color="0.95", transform=ax.get_xaxis_transform())
            ax.set_xscale("log")
            if name == "input_scale":
                ax.set_yscale("log")
                ax.set_ylabel("input events per sample")
            else:
                ax.set_ylabel("free-phase length T1 (steps)")
            ax.set_xlabel("energy per synaptic event (J)")
            target = targets[workload]
            ax.set_title(f"{workload}: ratio vs {levers.baseline.name} "
                         f"(EqSpike's claim ~{target:g}x: the "
                         f"{'red' if target == 1e3 else 'orange'} line)", fontsize=9)
            ax.legend(fontsize=7, loc="lower left")
    fig.colorbar(mesh, ax=axes, label="log10(baseline energy / device energy)")
    fig.suptitle(f"{levers.spec.name}: what it would take, {levers.device.name}'s other "
                 f"constants, counted spikes per step held", fontsize=10)
    fig.savefig(path, dpi=110)
