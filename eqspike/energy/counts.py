"""Event counts per sample: the spiking network's (counted) and the dense baseline's.

See :mod:`eqspike.energy` for what each count is and the equations behind it.
"""

from __future__ import annotations

import numpy as np

from ..rules import graded_edge, rule_for
from ..schedule import EVENT_PHASES
from .devices import EnergyError

__all__ = ["spiking_counts", "dense_counts", "learning_parts", "part_steps", "bias_edges"]


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


def bias_edges(spec) -> list:
    """Per non-input layer l (1 ... L), the index of the first edge into it: the edge its
    bias and its state traffic are charged to, so that every layer is charged once
    whatever the number of edges into it (a chain: edge l − 1)."""
    return [next(k for k, e in enumerate(spec.edges) if e.post == layer)
            for layer in range(1, len(spec.layers))]


def spiking_counts(spec, spikes: np.ndarray, workload: str) -> dict:
    """Per-sample event counts of the spiking network, each (units, parts).

    ``spikes``: (L, 3) mean spikes per sample per layer and part (a run file's events).
    Returns ``spikes`` (L, 3), ``synaptic_events`` (E, 3) per edge of the graph (in the
    order of ``spec.edges``), ``neuron_updates`` (L, 3), ``trace_updates`` (L, 3),
    ``plasticity_events`` (E, 3) and ``weight_writes`` (E, 3).

    Every edge is all-to-all, so its events follow exactly from the counted spikes of the
    two layers it joins (pre p, post q): a spike of p reaches the n_q neurons of q and one of
    q the n_p neurons of p (none when p is the clamped input). What the rule does on an edge
    comes from its pathway (:meth:`eqspike.rules.Rule.pathway`): code on the lower or upper
    neuron's spikes makes each window spike of that neuron a plasticity event at every
    synapse it joins; an ``apply`` at the boundary writes every weight once per training
    sample; an ``on_sample_end`` (a graded input) writes the synapses of each input event's
    neuron once. A layer's bias writes are charged to the first edge into it
    (:func:`bias_edges`). A graded input neuron has no per-step update and no trace: it
    loads its value once per sample and sends one event (counted as its spike) to its
    fan-out.
    """
    sizes = np.asarray(spec.layers)
    spikes = np.asarray(spikes, dtype=float)
    if spikes.shape != (len(sizes), len(EVENT_PHASES)):
        raise EnergyError(f"event counts of shape {spikes.shape} do not fit layers "
                          f"{tuple(sizes)} and parts {EVENT_PHASES}")
    conv = [k for k, e in enumerate(spec.edges) if e.kind == "conv"]
    if conv:
        raise EnergyError(f"{spec.name}: edge {conv[0]} is a conv edge, whose neurons' fan-out "
                          "varies at the borders while the run counts spikes per layer: its "
                          "events are not counted exactly yet, so no energy is estimated")
    rule = rule_for(spec)
    training = workload == "training"
    learning = learning_parts(spec)                          # parts where σ ≠ 0
    window_steps = part_steps(spec, "training") * learning
    n_edges = len(spec.edges)
    delivered, plastic, writes = (np.zeros((n_edges, 3)) for _ in range(3))
    for k, edge in enumerate(spec.edges):
        p, q = edge.pre, edge.post
        delivered[k] = spikes[p] * sizes[q] + (spikes[q] * sizes[p] if p > 0 else 0.0)
        path = rule.pathway(graded_edge(spec, k), spec.learning.partner)
        if path.on_pre:
            plastic[k] += spikes[p] * sizes[q] * learning
        if path.on_post:
            plastic[k] += spikes[q] * sizes[p] * learning
        if training and path.apply:
            writes[k, 2] += sizes[p] * sizes[q]              # every weight, once
        if training and path.on_sample_end:
            writes[k, 2] += spikes[p].sum() * sizes[q]       # one event per non-zero input
    if training:
        for layer, k in enumerate(bias_edges(spec), start=1):
            if rule.telescoping:                             # the biases, at every
                writes[k] += sizes[layer] * window_steps      # window step
            else:
                writes[k, 2] += sizes[layer]                 # the biases, once
    updates = sizes[:, None] * part_steps(spec, workload)[None, :] * 1.0
    traces = spikes.copy()
    if spec.spiking.input_code == "graded":
        updates[0] = [sizes[0], 0.0, 0.0]                    # one load per sample
        traces[0] = 0.0
    return {"spikes": spikes, "synaptic_events": delivered, "neuron_updates": updates,
            "trace_updates": traces, "plasticity_events": plastic, "weight_writes": writes}


def dense_counts(spec, workload: str, batch: int = 50) -> dict:
    """Per-sample MACs and bytes of the rate-based reference run as dense arithmetic.

    Returns ``macs`` (E, 3) per edge of the graph and part, ``activations`` (L, 3) and
    ``bytes`` (E, 3) (weights per edge, each layer's states charged to the first edge into
    it, :func:`bias_edges`). An edge from the input computes its drive x·W once per sample;
    every other edge its upward and downward products at every step.
    """
    sizes = np.asarray(spec.layers, dtype=float)
    steps = part_steps(spec, workload).astype(float)
    pairs = np.array([sizes[e.pre] * sizes[e.post] for e in spec.edges])
    from_input = np.array([e.pre == 0 for e in spec.edges])
    once = np.array([1.0, 0.0, 0.0])
    macs = np.where(from_input[:, None], pairs[:, None] * once,
                    2.0 * pairs[:, None] * steps[None, :])
    activations = sizes[:, None] * steps[None, :]
    activations[0] = 0.0                                      # the input is data
    weight_reads = 4.0 * pairs[:, None] / batch * np.where(from_input[:, None], once,
                                                           steps[None, :])
    state_traffic = np.zeros_like(macs)
    for layer, k in enumerate(bias_edges(spec), start=1):
        state_traffic[k] += 2 * 4.0 * sizes[layer] * steps
    if workload == "training":
        macs[:, 2] += 3.0 * pairs                             # two outer products + update
        for layer, k in enumerate(bias_edges(spec), start=1):
            macs[k, 2] += sizes[layer]                        # the bias update
        weight_reads[:, 2] += 2 * 4.0 * pairs / batch         # read-modify-write per batch
    return {"macs": macs, "activations": activations, "bytes": weight_reads + state_traffic}
