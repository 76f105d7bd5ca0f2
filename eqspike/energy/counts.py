"""Event counts per sample: the spiking network's (counted) and the dense baseline's.

See :mod:`eqspike.energy` for what each count is and the equations behind it.
"""

from __future__ import annotations

import numpy as np

from ..rules import graded_pair, rule_for
from ..schedule import EVENT_PHASES
from .devices import EnergyError

__all__ = ["spiking_counts", "dense_counts", "learning_parts", "part_steps"]


def part_steps(spec, workload: str) -> np.ndarray:
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
    (:meth:`eqspike.rules.Rule.pathway`): code on the lower or upper neuron's spikes
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
    window_steps = part_steps(spec, "training") * learning_parts(spec)
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
    updates = sizes[:, None] * part_steps(spec, workload)[None, :] * 1.0
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
    steps = part_steps(spec, workload).astype(float)
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
