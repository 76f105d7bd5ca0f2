"""The energy report: counted events times each device's constants, against a baseline.

See :mod:`eqspike.energy` for what is counted and what is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..schedule import EVENT_PHASES
from .counts import dense_counts, spiking_counts
from .devices import DEVICES, Device, EnergyError

__all__ = ["ASSUMPTIONS", "device_energy", "unpriced", "EnergyReport", "resolve_devices",
           "energy_report", "plot_report", "compare_table"]

ASSUMPTIONS = (
    "Counted: spikes (in the simulation; the delta code: its graded events, each priced at "
    "the device's graded_synop per synaptic event), synaptic events = spikes x fan-out in "
    "both directions (a conv edge: each neuron's taps, counted in the simulation), neuron "
    "updates = neurons x steps, plasticity events = learning-window spikes x fan-out, weight "
    "writes once per connection and training sample. GPU baseline: MACs of the rate-based "
    "reference (input drive once, 2 products per other edge per step; a conv edge: one MAC "
    "per tap), activations, memory traffic with weights (a conv edge: its kernel) read once "
    "per step per batch. Not counted: "
    "static/leakage power, off-chip I/O, host control, multi-hop routing, compilation."
)


#: The categories counted per layer; every other one is per edge of the graph.
PER_LAYER = ("spikes", "neuron_updates", "activations")


def _priced_terms(device: Device, spiking: dict, dense: dict, workload: str) -> dict:
    """category -> (count array, constant) of what ``device`` is charged for."""
    if device.kind == "measured":
        return {"measured": (np.ones((1, 1)), getattr(device, workload))}
    if device.kind == "neuromorphic":
        device = device.at_bits(spiking.get("weight_bits", 0))
        synop = device.graded_synop if spiking["graded"] else device.synop
        return {"synaptic_events": (spiking["synaptic_events"], synop),
                "spikes": (spiking["spikes"], device.spike),
                "neuron_updates": (spiking["neuron_updates"], device.neuron_update),
                "plasticity": (spiking["plasticity_events"] + spiking["weight_writes"],
                               device.synaptic_update)}
    return {"macs": (dense["macs"], device.mac),
            "activations": (dense["activations"], device.mac),
            "memory": (dense["bytes"], device.byte)}


def device_energy(device: Device, spiking: dict, dense: dict,
                  workload: str = "inference") -> dict:
    """Energy (J) per category, each an array (units, parts); see the module docstring.

    A category whose constant is ``nan`` (not published) is left out, except learning in a
    training sample: with no published learning energy the whole sample is ``nan`` (n/a),
    as is a measured device's workload that was not measured.
    """
    out = {}
    # a chip that sends binary spikes only (no graded_synop) cannot run graded events: n/a
    unrunnable = ("plasticity", "measured") + (("synaptic_events",) if spiking.get("graded")
                                               else ())
    for category, (count, constant) in _priced_terms(device, spiking, dense,
                                                     workload).items():
        if not np.isnan(constant):
            out[category] = count * constant
        elif category in unrunnable and np.any(count):
            out[category] = np.full_like(count, np.nan, dtype=float)
    return out


def unpriced(device: Device, spiking: dict, dense: dict, workload: str) -> list:
    """The categories with events but no published constant (the total is a lower bound)."""
    return [category for category, (count, constant)
            in _priced_terms(device, spiking, dense, workload).items()
            if np.isnan(constant) and np.any(count) and category != "plasticity"]


@dataclass
class EnergyReport:
    """Energies per sample (J) for each device and workload, with the baseline's ratio."""

    network: str
    layers: tuple
    edges: tuple                                  # (pre, post) per edge of the graph
    epoch: int
    train_samples: int
    baseline: str
    batch: int
    energy: dict = field(default_factory=dict)   # device -> workload -> category -> array
    counts: dict = field(default_factory=dict)   # workload -> spiking counts
    dense: dict = field(default_factory=dict)    # workload -> dense counts
    spike_std: dict = field(default_factory=dict)  # workload -> (R, 3) per-sample spread
    devices: dict = field(default_factory=dict)  # name -> Device
    unpriced: dict = field(default_factory=dict)  # device -> workload -> categories
    bands: dict = field(default_factory=dict)     # device -> workload -> (low J, high J)
    code: str = "sigma_delta"                     # [spiking] code: "delta" sends graded events
    weight_bits: int = 0                          # [synapses] weight_bits (0: float)

    def counts_table(self) -> str:
        """The counted and derived events per sample (spikes: mean ± s.d. over samples)."""
        lines = []
        for workload, counts in self.counts.items():
            total = counts["spikes"].sum(axis=1)
            layers = len(total)                      # the std's rows: layers, then reach
            spread = np.sqrt((self.spike_std[workload][:layers] ** 2).sum(axis=1))
            per_layer = ", ".join(f"L{k} {m:.0f} ± {s:.0f}"
                                  for k, (m, s) in enumerate(zip(total, spread)))
            lines.append(f"{workload}: spikes per sample {per_layer} (± across parts taken "
                         f"as independent)")
            for name in ("synaptic_events", "neuron_updates", "trace_updates",
                         "plasticity_events", "weight_writes"):
                lines.append(f"  {name:18s} {counts[name].sum():12.4g}")
            dense = self.dense[workload]
            lines.append(f"  {'baseline MACs':18s} {dense['macs'].sum() + dense['activations'].sum():12.4g}"
                         f"   bytes {dense['bytes'].sum():.4g}")
        return "\n".join(lines)

    def total(self, device: str, workload: str) -> float:
        """J per sample; nan where it is not available (no published learning energy);
        a lower bound where :attr:`unpriced` names categories."""
        return float(sum(np.sum(v) for v in self.energy[device][workload].values()))

    def per_epoch(self, device: str) -> float:
        return self.total(device, "training") * self.train_samples

    def ratio(self, device: str, workload: str) -> float:
        """Baseline energy / this device's energy (> 1: the device uses less); nan where
        nothing of the device's is priced."""
        mine = self.total(device, workload)
        return self.total(self.baseline, workload) / mine if mine else float("nan")

    def band(self, device: str, workload: str) -> tuple | None:
        """(low, high) J per sample where the device's sources disagree, else None."""
        return self.bands.get(device, {}).get(workload)

    def _cell(self, device: str, workload: str, value: float, width: int,
              scale: float = 1.0) -> str:
        if np.isnan(value):
            return f"{'n/a':>{width}s}"
        bound = ">=" if self.unpriced.get(device, {}).get(workload) else ""
        band = self.band(device, workload)
        if band is not None:
            return f"{bound + f'{band[0] * scale:.2e}-{band[1] * scale:.2e}':>{width}s}"
        return f"{bound + f'{value:.3e}':>{width}s}"

    def _ratio_cell(self, device: str, workload: str) -> str:
        r = self.ratio(device, workload)
        # a lower bound on energy is an upper bound on the ratio
        bound = "<=" if self.unpriced.get(device, {}).get(workload) else ""
        if np.isnan(r):
            return "n/a"
        band = self.band(device, workload)
        if band is not None:
            base = self.total(self.baseline, workload)
            return f"{bound}{base / band[1]:.3g}-{base / band[0]:.3g}x"
        return f"{bound}{r:.3g}x (10^{np.log10(r):+.1f})"

    def table(self) -> str:
        head = (f"{'device':16s} {'kind':12s} {'J/inference':>19s} {'J/train sample':>19s} "
                f"{'J/epoch':>19s}  {'vs ' + self.baseline + ' (inference, training)':>34s}")
        lines = [head, "-" * len(head)]
        for name in self.energy:
            cells = [self._ratio_cell(name, w) for w in ("inference", "training")]
            lines.append(
                f"{name:16s} {self.devices[name].kind:12s} "
                f"{self._cell(name, 'inference', self.total(name, 'inference'), 19)} "
                f"{self._cell(name, 'training', self.total(name, 'training'), 19)} "
                f"{self._cell(name, 'training', self.per_epoch(name), 19, self.train_samples)}"
                f"  {cells[0]:>17s}, {cells[1]:>17s}")
        notes = [f"  {name}: {workload} leaves out {', '.join(categories)} (no published "
                 "constant): its energy is a lower bound"
                 for name, by_workload in self.unpriced.items()
                 for workload, categories in by_workload.items()
                 if categories and not np.isnan(self.total(name, workload))]
        for name in self.bands:
            device = self.devices[name]
            figures = "; ".join(f"{f} {getattr(device, f):.3g} J (its source) or {v:.3g} J "
                                f"({src})" for f, v, src in device.alternatives)
            notes.append(f"  {name}: sources disagree, hence a band low-high: {figures}")
        return "\n".join(lines + notes)

    def breakdown(self, device: str, workload: str) -> str:
        """Energy per category and unit (a layer, or an edge ``pre-post`` of the graph),
        split by part of the sample."""
        lines = [f"{device}, {workload}: J per sample by category, unit and part "
                 f"({', '.join(EVENT_PHASES)})"]
        for category, values in self.energy[device][workload].items():
            units = "layer" if category in PER_LAYER else "edge"
            for k, row in enumerate(values):
                label = f"{k}" if units == "layer" else "-".join(map(str, self.edges[k]))
                if np.any(row):
                    parts = "  ".join(f"{v:9.3e}" for v in row)
                    lines.append(f"  {category:16s} {units} {label:4s} {parts}   "
                                 f"total {row.sum():9.3e}")
        return "\n".join(lines)


def resolve_devices(names=None, baseline: str = "gpu", batch: int = 50) -> tuple:
    """(devices by name, the baseline's name) for a report.

    ``names``: presets (default: all); ``baseline``: a conventional preset, or the path of a
    measured baseline file (:mod:`eqspike.energy.baseline`), whose every measured batch size is
    added as a device and whose measurement at ``batch`` is the baseline.
    """
    names = list(names) if names else list(DEVICES)
    unknown = [n for n in names if n not in DEVICES]
    if unknown:
        raise EnergyError(f"unknown device(s) {', '.join(unknown)}; valid: "
                          f"{', '.join(DEVICES)} (or register one with --devices-file)")
    devices = {n: DEVICES[n] for n in names}
    if baseline in DEVICES:
        if DEVICES[baseline].kind != "conventional":
            raise EnergyError(f"the baseline {baseline!r} must be a conventional device or a "
                              "measured baseline file")
        devices.setdefault(baseline, DEVICES[baseline])
        return devices, baseline
    if not Path(baseline).suffix == ".h5":
        raise EnergyError(f"unknown baseline {baseline!r}: give a conventional preset "
                          f"({', '.join(n for n, d in DEVICES.items() if d.kind == 'conventional')})"
                          " or a measured baseline file (eqspike energy --measure)")
    from .baseline import load_baseline

    measured = load_baseline(baseline)
    by_batch = {int(d.name.rsplit("-b", 1)[1]): d for d in measured}
    if batch not in by_batch:
        raise EnergyError(f"{baseline}: measured at batch {', '.join(map(str, by_batch))}, "
                          f"not at --batch {batch}")
    devices.update({d.name: d for d in measured})
    return devices, by_batch[batch].name


def energy_report(run, devices=None, baseline: str = "gpu", batch: int = 50) -> EnergyReport:
    """Energy per inference and per training sample of a run's last epoch, per device.

    ``run``: a :class:`eqspike.runfile.Run` or a path to one. ``baseline``: see
    :func:`resolve_devices`.
    """
    from ..runfile import read_run

    if not hasattr(run, "events"):
        run = read_run(run)
    chosen, baseline = resolve_devices(devices, baseline, batch)
    if len(run.events["train_mean"]) == 0:
        raise EnergyError(f"{run.path}: no finished epoch, so no event counts")
    run.checkpoint()       # counts of weights that went non-finite price nothing: refuse
    spec = run.spec
    report = EnergyReport(spec.name, spec.layers, tuple((e.pre, e.post) for e in spec.edges),
                          int(run.metrics["epoch"][-1]),
                          int(run.metrics["train_samples"][-1]), baseline, batch,
                          devices=chosen, code=spec.spiking.code,
                          weight_bits=spec.synapses.weight_bits)
    sources = {"inference": run.events["eval_mean"][-1], "training": run.events["train_mean"][-1]}
    report.spike_std = {"inference": run.events["eval_std"][-1],
                        "training": run.events["train_std"][-1]}
    for workload, spikes in sources.items():
        report.counts[workload] = spiking_counts(spec, spikes, workload)
        report.dense[workload] = dense_counts(spec, workload, batch)
    for name, device in chosen.items():
        report.energy[name] = {w: device_energy(device, report.counts[w], report.dense[w], w)
                               for w in sources}
        report.unpriced[name] = {w: unpriced(device, report.counts[w], report.dense[w], w)
                                 for w in sources}
        if device.alternatives:
            report.bands[name] = {w: tuple(float(sum(np.sum(v) for v in device_energy(
                bound, report.counts[w], report.dense[w], w).values()))
                for bound in device.bounds()) for w in sources}
    return report


def compare_table(reports: dict) -> str:
    """Several runs side by side (``{label: EnergyReport}``, e.g. one network in two spike
    codes): per device the J per inference and per training sample of each run, and the
    second run's against the first's."""
    labels = list(reports)
    first = reports[labels[0]]
    devices = [d for d in first.energy if all(d in r.energy for r in reports.values())]
    head = f"{'device':16s} " + " ".join(f"{label + ' (' + r.code + ')':>40s}"
                                         for label, r in reports.items())
    lines = ["J per inference / per training sample, run by run:", head, "-" * len(head)]
    for name in devices:
        cells = [f"{r._cell(name, 'inference', r.total(name, 'inference'), 19)} "
                 f"{r._cell(name, 'training', r.total(name, 'training'), 19)}"
                 for r in reports.values()]
        lines.append(f"{name:16s} " + " ".join(f"{c:>40s}" for c in cells))
    for label in labels[1:]:
        other = reports[label]
        ratios = ", ".join(
            f"{name} {first.total(name, 'inference') / other.total(name, 'inference'):.3g}x / "
            f"{first.total(name, 'training') / other.total(name, 'training'):.3g}x"
            for name in devices if other.total(name, "inference") > 0)
        lines.append(f"{labels[0]} against {label} (inference / training): {ratios}")
    return "\n".join(lines)


def plot_report(report: EnergyReport, path) -> None:
    """Bar chart (log scale): energy per inference and per training sample, per device."""
    from ..figures import subplots

    names = list(report.energy)
    x = np.arange(len(names))
    hatch = {n: "//" for n, u in report.unpriced.items() if any(u.values())}
    fig, ax = subplots(figsize=(max(7.5, 0.75 * len(names) + 2), 4.9))
    for offset, workload, colour in ((-0.2, "inference", "tab:blue"),
                                     (0.2, "training", "tab:orange")):
        values = [report.total(n, workload) for n in names]      # nan (n/a): no bar
        bars = ax.bar(x + offset, values, width=0.4, color=colour,
                      label=f"per {workload} sample" if workload == "training"
                      else "per inference")
        for bar, name in zip(bars, names):
            bar.set_hatch(hatch.get(name, ""))
            band = report.band(name, workload)
            if band is not None:                  # sources disagree: the band they imply
                centre = bar.get_x() + bar.get_width() / 2
                ax.plot([centre, centre], band, color="black", lw=1.2)
                ax.plot([centre] * 2, band, "k_", ms=8)
    ax.set_yscale("log")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("energy per sample (J)")
    ax.set_title(f"{report.network} {'-'.join(map(str, report.layers))}, epoch {report.epoch}: "
                 f"counted events x device constants\n(baseline {report.baseline}, batch "
                 f"{report.batch}; static power and off-chip I/O not counted)\nhatched: a lower bound "
                 f"(some constants unpublished); no bar: n/a (no published learning energy)\n"
                 f"whisker: the band (low-high) that sources which disagree imply",
                 fontsize=9)
    ax.grid(axis="y", alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
