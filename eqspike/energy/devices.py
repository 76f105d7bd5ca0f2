"""Energy devices: per-event energies in joules, each with its source.

The presets are data, ``devices.toml`` beside this module (every constant with the source
it was read in; ``nan``: not published; ``alternatives``: other published figures where
sources disagree). A ``measured`` device holds the energy per inference and per training
sample measured on a real machine (:mod:`eqspike.energy.baseline`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from ..errors import EqspikeError, shown

__all__ = ["Device", "DEVICES", "EnergyError", "KINDS", "ENERGY_FIELDS", "PRESETS_FILE",
           "register_device", "load_devices"]

PRESETS_FILE = Path(__file__).with_name("devices.toml")
KINDS = ("neuromorphic", "conventional", "in_memory", "measured")
#: The constants a device may leave ``nan`` (not published).
ENERGY_FIELDS = ("synop", "graded_synop", "spike", "neuron_update", "synaptic_update", "mac",
                 "byte")


class EnergyError(EqspikeError, ValueError):
    """An unknown device, a bad device file, or a run file without event counts."""


@dataclass(frozen=True)
class Device:
    """Per-event energies in joules; ``kind`` says which of them apply.

    ``neuromorphic``: synop, spike, neuron_update, synaptic_update on the counted events,
    and graded_synop in place of synop for a graded event's delivery (the delta code,
    ``[spiking] code = "delta"``: the weight times the event's payload, added to the
    target; ``nan`` for a chip that sends binary spikes only);
    ``conventional``: mac and byte on the dense arithmetic of the rate reference;
    ``in_memory``: mac on the same arithmetic done in an analog array; ``measured``: the
    energy per inference and per training sample measured on a machine
    (:mod:`eqspike.energy.baseline`). A constant may be ``nan``: not published (its category is
    left unpriced; a ``nan`` synaptic_update makes training "n/a").

    ``alternatives``: other published figures for some constants, each ``(field, value,
    source)``, where sources disagree (e.g. SpiNNaker 2's 450 pJ per synaptic event in
    Höppner et al. 2019 against 10 pJ per SOp in Tang et al. 2023). The device is priced
    with its own constants; :meth:`bounds` gives the band every figure implies.
    """

    name: str
    kind: str
    synop: float = 0.0
    graded_synop: float = float("nan")
    spike: float = 0.0
    neuron_update: float = 0.0
    synaptic_update: float = 0.0
    mac: float = 0.0
    byte: float = 0.0
    inference: float = float("nan")     # measured: J per inference
    training: float = float("nan")      # measured: J per training sample
    source: str = ""
    graded_source: str = ""             # where graded_synop comes from (or its assumption)
    memory_bits: float = float("nan")   # the weight width synop_memory, update_memory assume
    synop_memory: float = float("nan")  # the part of synop that reads the weight
    update_memory: float = float("nan")  # the part of synaptic_update that writes it
    bits_source: str = ""               # where the split comes from (or its assumption)
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

    def at_bits(self, bits: int) -> "Device":
        """This device for weights of ``bits`` bits (0: as published): the weight's memory
        read in synop and its write in synaptic_update scale with the width, b /
        memory_bits, where the device splits them out (``synop_memory``,
        ``update_memory``); otherwise the constants stay (an assumption the report
        prints)."""
        if not bits or np.isnan(self.memory_bits):
            return self
        factor = bits / self.memory_bits
        return replace(self, synop=self.synop - self.synop_memory * (1 - factor),
                       graded_synop=self.graded_synop - self.synop_memory * (1 - factor),
                       synaptic_update=self.synaptic_update
                       - self.update_memory * (1 - factor))

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
        values = {}
        for key, value in table.items():
            where = f"{path}: [{name}] {key}"
            if key in TEXT_FIELDS:
                if not isinstance(value, str):
                    raise EnergyError(f"{where}: expected a string, got {shown(value)}")
            elif key == "alternatives":
                value = _alternatives(where, value)
            elif not _is_number(value):
                raise EnergyError(f"{where}: expected a number (joules) or nan, got "
                                  f"{shown(value)}")
            else:
                value = float(value)
            values[key] = value
        try:
            devices[name] = Device(name=name, **values)
        except EnergyError as exc:
            raise EnergyError(f"{path}: {exc}") from None
    return devices


#: The fields of a device that hold text; every other one (but ``alternatives``) a number.
TEXT_FIELDS = ("kind", "source", "graded_source", "bits_source")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _alternatives(where: str, value) -> tuple:
    """``alternatives = [{field = ..., value = ..., source = ...}, ...]``, checked."""
    form = "a list of {field = \"synop\", value = 1e-11, source = \"...\"}"
    if not isinstance(value, list):
        raise EnergyError(f"{where}: expected {form}, got {shown(value)}")
    out = []
    for k, item in enumerate(value):
        if not isinstance(item, dict) or set(item) != {"field", "value", "source"}:
            raise EnergyError(f"{where}[{k}]: expected {form}")
        if item["field"] not in ENERGY_FIELDS:
            raise EnergyError(f"{where}[{k}] field: {shown(item['field'])} is not one of "
                              f"{', '.join(ENERGY_FIELDS)}")
        if not _is_number(item["value"]):
            raise EnergyError(f"{where}[{k}] value: expected a number (joules), got "
                              f"{shown(item['value'])}")
        if not isinstance(item["source"], str):
            raise EnergyError(f"{where}[{k}] source: expected a string, got "
                              f"{shown(item['source'])}")
        out.append((item["field"], float(item["value"]), item["source"]))
    return tuple(out)


#: The presets (``devices.toml``), by name.
DEVICES: dict = load_devices(PRESETS_FILE)


def register_device(name: str, kind: str, source: str = "", **energies) -> Device:
    """Add (or replace) a device, e.g. ``register_device('mychip', 'neuromorphic',
    synop=1e-12, neuron_update=5e-12, synaptic_update=2e-12)``."""
    device = Device(name=name, kind=kind, source=source, **energies)
    DEVICES[name] = device
    return device
