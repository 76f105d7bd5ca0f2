"""Energy accounting: counted events times per-event energies, against a GPU baseline.

The estimate comes from events that happened: each run file holds, per epoch, the mean
number of spikes per sample of every layer in each part of a sample (counted inside the
compiled simulation; see :mod:`eqspike.spiking`). From those and the network's shape
(dense, all-to-all couplings) eqspike derives, per sample:

=====================  ===========================================================
spikes                 S_l^p: counted (layer l, part p: free_quiet, free_window, nudged)
synaptic events        a spike delivered to each target, both directions of a shared
                       synapse: S_l · n_{l+1} upward, S_{l+1} · n_l downward (l ≥ 1: the
                       clamped input receives nothing)
neuron updates         n_l per step, every layer (rate-coded input encoders included; a
                       graded input neuron loads its value once per sample)
plasticity events      the rule firing at a spike: S_l · n_{l+1} and/or S_{l+1} · n_l for the
                       spikes of the learning windows (free_window and nudged), on the sides
                       where the rule has spike code (:func:`spiking_counts`)
weight writes          the once-per-sample application, n_l · n_{l+1} per pair (+ biases);
                       with a graded input, n_1 per input event instead
trace updates          one jump per spike (S_l; a graded input keeps no trace); the per-step
                       decay is part of the neuron update, and the jump is charged with it
                       (no device lists it apart)
=====================  ===========================================================

An *inference* is an evaluation sample's free phase (T1 steps; counts from the test set);
a *training sample* is T1 + T2 steps (counts from the training samples).

The GPU baseline runs the same network with the rate-based reference as dense arithmetic
(:mod:`eqspike.reference`), batched (``batch`` samples share each weight read):

* inference: the input drive x·W_0 once, then per free step, for every other layer pair,
  the upward and downward products (2 n_l n_{l+1} MACs) and one activation per neuron;
* training: the same over T1 + T2 steps, plus the EP update: two outer products and the
  weight update (3 n_l n_{l+1} per pair) and the biases;
* memory: each weight read once per step per batch, states read and written per step
  (4 bytes per value), weight update read-modify-write once per batch.

Energy = Σ counts × the device's per-event constants (``energy_devices.toml``, each with its
source; a constant no source publishes is ``nan`` and leaves its category unpriced, the
total then a lower bound). An ``in_memory`` device (an analog crossbar) prices the dense
arithmetic per MAC with no weight traffic; a ``measured`` device is a baseline measured on
a real machine (:mod:`eqspike.baseline`), and :mod:`eqspike.energy_levers` and
:mod:`eqspike.energy_vs_steps` ask what it would take to reach EqSpike's ratios. **Not counted**, for any device: static (leakage) power and idle time, off-chip I/O
(loading images, reading results), host control, routing beyond one hop, and the compile
step. These omissions favour the neuromorphic side, whose static power dominates at low
activity; the GPU's per-op constants (Degnan et al. 2015) include its memory system.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from .errors import EqspikeError
from .plasticity.rules import graded_pair, rule_for
from .spiking import EVENT_PHASES

__all__ = ["Device", "DEVICES", "EnergyError", "register_device", "load_devices",
           "spiking_counts", "dense_counts", "device_energy", "unpriced", "EnergyReport",
           "resolve_devices", "energy_report", "ASSUMPTIONS"]

PRESETS_FILE = Path(__file__).with_name("energy_devices.toml")
KINDS = ("neuromorphic", "conventional", "in_memory", "measured")
#: The constants a device may leave ``nan`` (not published).
ENERGY_FIELDS = ("synop", "spike", "neuron_update", "synaptic_update", "mac", "byte")

ASSUMPTIONS = (
    "Counted: spikes (in the simulation), synaptic events = spikes x fan-out in both "
    "directions, neuron updates = neurons x steps, plasticity events = learning-window "
    "spikes x fan-out, weight writes once per training sample. GPU baseline: dense MACs of "
    "the rate-based reference (input drive once, 2 products per other pair per step), "
    "activations, memory traffic with weights read once per step per batch. Not counted: "
    "static/leakage power, off-chip I/O, host control, multi-hop routing, compilation."
)


class EnergyError(EqspikeError, ValueError):
    """An unknown device, a bad device file, or a run file without event counts."""


@dataclass(frozen=True)
class Device:
    """Per-event energies in joules; ``kind`` says which of them apply.

    ``neuromorphic``: synop, spike, neuron_update, synaptic_update on the counted events;
    ``conventional``: mac and byte on the dense arithmetic of the rate reference;
    ``in_memory``: mac on the same arithmetic done in an analog array; ``measured``: the
    energy per inference and per training sample measured on a machine
    (:mod:`eqspike.baseline`). A constant may be ``nan``: not published (its category is
    left unpriced; a ``nan`` synaptic_update makes training "n/a").

    ``alternatives``: other published figures for some constants, each ``(field, value,
    source)``, where sources disagree (e.g. SpiNNaker 2's 450 pJ per synaptic event in
    Höppner et al. 2019 against 10 pJ per SOp in Tang et al. 2023). The device is priced
    with its own constants; :meth:`bounds` gives the band every figure implies.
    """

    name: str
    kind: str
    synop: float = 0.0
    spike: float = 0.0
    neuron_update: float = 0.0
    synaptic_update: float = 0.0
    mac: float = 0.0
    byte: float = 0.0
    inference: float = float("nan")     # measured: J per inference
    training: float = float("nan")      # measured: J per training sample
    source: str = ""
    alternatives: tuple = ()            # ((field, value, source), ...)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise EnergyError(f"device {self.name!r}: kind {self.kind!r} is not one of "
                              f"{', '.join(KINDS)}")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "float" and not (np.isnan(value) or (np.isfinite(value)
                                                              and value >= 0)):
                raise EnergyError(f"device {self.name!r}: {f.name} = {value!r} must be a "
                                  "finite energy >= 0 (joules), or nan (not published)")
        for alternative in self.alternatives:
            if (len(alternative) != 3 or alternative[0] not in ENERGY_FIELDS
                    or not isinstance(alternative[1], (int, float))
                    or not np.isfinite(alternative[1]) or alternative[1] < 0):
                raise EnergyError(f"device {self.name!r}: alternative {alternative!r} must be "
                                  f"(field, value, source) with field one of "
                                  f"{', '.join(ENERGY_FIELDS)} and a finite energy >= 0")

    def bounds(self) -> tuple:
        """(low, high): this device with every constant at the lowest, and at the highest,
        of its published figures (its own and :attr:`alternatives`); energy grows with
        each constant, so the two bound every combination of the figures."""
        figures = {name: [getattr(self, name)] for name in ENERGY_FIELDS}
        for name, value, _ in self.alternatives:
            figures[name].append(float(value))
        pick = {name: (min(v), max(v)) for name, v in figures.items()
                if len(v) > 1 and not np.isnan(v[0])}
        return tuple(replace(self, alternatives=(), **{k: v[i] for k, v in pick.items()})
                     for i in (0, 1))

    @property
    def dense(self) -> bool:
        """Whether it runs the rate reference's dense arithmetic."""
        return self.kind in ("conventional", "in_memory")


def load_devices(path) -> dict:
    """Devices from a TOML file of tables ``[name] kind = ..., synop = ...`` (joules)."""
    try:
        raw = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise EnergyError(f"cannot read device file {path}: {exc}") from None
    known = {f.name for f in fields(Device)} - {"name"}
    devices = {}
    for name, table in raw.items():
        if not isinstance(table, dict):
            raise EnergyError(f"{path}: [{name}] must be a table")
        unknown = set(table) - known
        if unknown:
            raise EnergyError(f"{path}: [{name}] has unknown field(s) "
                              f"{', '.join(sorted(unknown))}; valid: {', '.join(sorted(known))}")
        try:
            alternatives = tuple((a["field"], float(a["value"]), str(a["source"]))
                                 for a in table.pop("alternatives", ()))
            devices[name] = Device(name=name, alternatives=alternatives,
                                   **{k: (float(v) if k not in ("kind", "source") else v)
                                      for k, v in table.items()})
        except (TypeError, ValueError, KeyError) as exc:
            raise EnergyError(f"{path}: [{name}]: {exc!r}; an alternative is "
                              "{field = ..., value = ..., source = ...}") from None
    return devices


#: The presets (``energy_devices.toml``), by name.
DEVICES: dict = load_devices(PRESETS_FILE)


def register_device(name: str, kind: str, source: str = "", **energies) -> Device:
    """Add (or replace) a device, e.g. ``register_device('mychip', 'neuromorphic',
    synop=1e-12, neuron_update=5e-12, synaptic_update=2e-12)``."""
    device = Device(name=name, kind=kind, source=source, **energies)
    DEVICES[name] = device
    return device


def _steps(spec, workload: str) -> np.ndarray:
    """Steps in each part of a sample (free_quiet, free_window, nudged)."""
    t1, t2 = spec.phases.free_steps, spec.phases.nudge_steps
    if workload == "inference":
        return np.array([t1, 0, 0])
    if workload == "training":   # symmetric nudging: the −β phase is the negative window
        return np.array([t1, t2, t2]) if spec.nudged_phases == 2 else np.array([t1 - t2, t2, t2])
    raise EnergyError(f"unknown workload {workload!r}; valid: inference, training")


def learning_parts(spec) -> np.ndarray:
    """Which parts of a training sample (free_quiet, free_window, nudged) the rule learns in:
    the free window only if the rule has one under one-sided nudging (the −β phase is the
    negative window under symmetric nudging)."""
    negative = spec.nudged_phases == 2 or rule_for(spec).free_window
    return np.array([0.0, 1.0 if negative else 0.0, 1.0])


def spiking_counts(spec, spikes: np.ndarray, workload: str) -> dict:
    """Per-sample event counts of the spiking network, each (units, parts).

    ``spikes``: (L, 3) mean spikes per sample per layer and part (a run file's events).
    Returns ``spikes`` (L, 3), ``synaptic_events`` (L−1, 3) per layer pair,
    ``neuron_updates`` (L, 3), ``trace_updates`` (L, 3), ``plasticity_events`` (L−1, 3) and
    ``weight_writes`` (L−1, 3).

    What the rule does on each layer pair comes from its pathway
    (:meth:`eqspike.plasticity.Rule.pathway`): code on the lower or upper neuron's spikes
    makes each window spike of that neuron a plasticity event at every synapse it joins; an
    ``apply`` at the boundary writes every weight once per training sample; an
    ``on_sample_end`` (a graded input) writes the synapses of each input event's neuron once.
    A graded input neuron has no per-step update and no trace: it loads its value once per
    sample and sends one event (counted as its spike) to its fan-out.
    """
    sizes = np.asarray(spec.layers)
    spikes = np.asarray(spikes, dtype=float)
    if spikes.shape != (len(sizes), len(EVENT_PHASES)):
        raise EnergyError(f"event counts of shape {spikes.shape} do not fit layers "
                          f"{tuple(sizes)} and parts {EVENT_PHASES}")
    rule = rule_for(spec)
    training = workload == "training"
    window_steps = _steps(spec, "training") * learning_parts(spec)
    up = spikes[:-1] * sizes[1:, None]                       # lower layer's spikes, upward
    down = spikes[1:] * sizes[:-1, None]                     # upper layer's spikes, downward
    down[0] = 0.0                                            # the input is clamped
    learning = learning_parts(spec)                          # parts where σ ≠ 0
    plastic = np.zeros((len(sizes) - 1, 3))
    writes = np.zeros((len(sizes) - 1, 3))
    for k in range(len(sizes) - 1):
        path = rule.pathway(graded_pair(spec, k), spec.learning.partner)
        if path.on_pre:
            plastic[k] += spikes[k] * sizes[k + 1] * learning
        if path.on_post:
            plastic[k] += spikes[k + 1] * sizes[k] * learning
        if training and path.apply:
            writes[k, 2] += sizes[k] * sizes[k + 1]          # every weight, once
        if training and path.on_sample_end:
            writes[k, 2] += spikes[k].sum() * sizes[k + 1]  # one event per non-zero input
        if training and rule.telescoping:                    # the biases, at every
            writes[k] += sizes[k + 1] * window_steps          # window step
        elif training:
            writes[k, 2] += sizes[k + 1]                     # the biases, once
    updates = sizes[:, None] * _steps(spec, workload)[None, :] * 1.0
    traces = spikes.copy()
    if spec.spiking.input_code == "graded":
        updates[0] = [sizes[0], 0.0, 0.0]                    # one load per sample
        traces[0] = 0.0
    return {"spikes": spikes, "synaptic_events": up + down, "neuron_updates": updates,
            "trace_updates": traces, "plasticity_events": plastic, "weight_writes": writes}


def dense_counts(spec, workload: str, batch: int = 50) -> dict:
    """Per-sample MACs and bytes of the rate-based reference run as dense arithmetic.

    Returns ``macs`` (L−1, 3) per layer pair and part, ``activations`` (L, 3) and
    ``bytes`` (L−1, 3) (weights per pair, states attributed to the pair below them).
    """
    sizes = np.asarray(spec.layers, dtype=float)
    steps = _steps(spec, workload).astype(float)
    pairs = sizes[:-1] * sizes[1:]
    macs = 2.0 * pairs[:, None] * steps[None, :]
    macs[0] = 0.0
    macs[0, 0] = pairs[0]                                     # the input drive, once
    activations = sizes[:, None] * steps[None, :]
    activations[0] = 0.0                                      # the input is data
    weight_reads = 4.0 * pairs[:, None] * steps[None, :] / batch
    weight_reads[0] = 0.0
    weight_reads[0, 0] = 4.0 * pairs[0] / batch
    state_traffic = 2 * 4.0 * sizes[1:, None] * steps[None, :]
    if workload == "training":
        macs[:, 2] += 3.0 * pairs + sizes[1:]                 # two outer products + update
        weight_reads[:, 2] += 2 * 4.0 * pairs / batch         # read-modify-write per batch
    return {"macs": macs, "activations": activations, "bytes": weight_reads + state_traffic}


def _priced_terms(device: Device, spiking: dict, dense: dict, workload: str) -> dict:
    """category -> (count array, constant) of what ``device`` is charged for."""
    if device.kind == "measured":
        return {"measured": (np.ones((1, 1)), getattr(device, workload))}
    if device.kind == "neuromorphic":
        return {"synaptic_events": (spiking["synaptic_events"], device.synop),
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
    for category, (count, constant) in _priced_terms(device, spiking, dense,
                                                     workload).items():
        if not np.isnan(constant):
            out[category] = count * constant
        elif category in ("plasticity", "measured") and np.any(count):
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
    epoch: int
    train_samples: int
    baseline: str
    batch: int
    energy: dict = field(default_factory=dict)   # device -> workload -> category -> array
    counts: dict = field(default_factory=dict)   # workload -> spiking counts
    dense: dict = field(default_factory=dict)    # workload -> dense counts
    spike_std: dict = field(default_factory=dict)  # workload -> (L, 3) per-sample spread
    devices: dict = field(default_factory=dict)  # name -> Device
    unpriced: dict = field(default_factory=dict)  # device -> workload -> categories
    bands: dict = field(default_factory=dict)     # device -> workload -> (low J, high J)

    def counts_table(self) -> str:
        """The counted and derived events per sample (spikes: mean ± s.d. over samples)."""
        lines = []
        for workload, counts in self.counts.items():
            total = counts["spikes"].sum(axis=1)
            spread = np.sqrt((self.spike_std[workload] ** 2).sum(axis=1))
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
        """Baseline energy / this device's energy (> 1: the device uses less)."""
        return self.total(self.baseline, workload) / self.total(device, workload)

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
        """Energy per category and unit (layer or layer pair), split by part of the sample."""
        lines = [f"{device}, {workload}: J per sample by category, unit and part "
                 f"({', '.join(EVENT_PHASES)})"]
        for category, values in self.energy[device][workload].items():
            units = ("layer" if values.shape[0] == len(self.layers) else "pair")
            for k, row in enumerate(values):
                label = f"{k}" if units == "layer" else f"{k}-{k + 1}"
                if np.any(row):
                    parts = "  ".join(f"{v:9.3e}" for v in row)
                    lines.append(f"  {category:16s} {units} {label:4s} {parts}   "
                                 f"total {row.sum():9.3e}")
        return "\n".join(lines)


def resolve_devices(names=None, baseline: str = "gpu", batch: int = 50) -> tuple:
    """(devices by name, the baseline's name) for a report.

    ``names``: presets (default: all); ``baseline``: a conventional preset, or the path of a
    measured baseline file (:mod:`eqspike.baseline`), whose every measured batch size is
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
    from .runfile import read_run

    if not hasattr(run, "events"):
        run = read_run(run)
    chosen, baseline = resolve_devices(devices, baseline, batch)
    if len(run.events["train_mean"]) == 0:
        raise EnergyError(f"{run.path}: no finished epoch, so no event counts")
    run.checkpoint()       # counts of weights that went non-finite price nothing: refuse
    spec = run.spec
    report = EnergyReport(spec.name, spec.layers, int(run.metrics["epoch"][-1]),
                          int(run.metrics["train_samples"][-1]), baseline, batch,
                          devices=chosen)
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


def plot_report(report: EnergyReport, path) -> None:
    """Bar chart (log scale): energy per inference and per training sample, per device."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report.energy)
    x = np.arange(len(names))
    hatch = {n: "//" for n, u in report.unpriced.items() if any(u.values())}
    fig, ax = plt.subplots(figsize=(max(7.5, 0.75 * len(names) + 2), 4.9))
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
    plt.close(fig)
