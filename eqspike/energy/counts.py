"""Event counts per sample: the spiking network's (counted) and the dense baseline's.

See :mod:`eqspike.energy` for what each count is and the equations behind it.
"""

from __future__ import annotations

import numpy as np

from ..conv import edge_taps, event_rows, reach_rows
from ..parameters import edge_weight_shape
from ..rules import graded_edge, rule_for
from ..schedule import EVENT_PHASES
from .devices import EnergyError

__all__ = ["spiking_counts", "dense_counts", "learning_parts", "part_steps", "bias_edges",
           "edge_reach", "edge_connections", "edge_weights"]


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


def edge_reach(spec, events: np.ndarray) -> np.ndarray:
    """(E, 2, 3): per edge of the graph, the events per part the pre layer's spikes send
    through it (up) and the post layer's (down), from a run's event counts ``events``
    (:func:`eqspike.conv.event_rows` rows: the layers' spikes, then the conv edges' counted
    reach, :func:`eqspike.conv.reach_rows`). A dense edge is all-to-all: a spike of p reaches
    the n_q neurons of q and one of q the n_p neurons of p."""
    sizes = np.asarray(spec.layers)
    reach = np.zeros((len(spec.edges), 2, len(EVENT_PHASES)))
    for k, edge in enumerate(spec.edges):
        reach[k] = events[edge.pre] * sizes[edge.post], events[edge.post] * sizes[edge.pre]
    for row, (k, direction) in enumerate(reach_rows(spec), start=len(sizes)):
        reach[k, 0 if direction == "up" else 1] = events[row]
    return reach


def edge_connections(spec) -> np.ndarray:
    """Per edge, the connections it makes: n_p n_q for a dense edge, its taps for a conv edge
    (pairs of neurons a kernel entry couples; :func:`eqspike.conv.conv_taps`)."""
    return np.array([len(edge_taps(spec, e)) if e.kind == "conv"
                     else spec.layers[e.pre] * spec.layers[e.post] for e in spec.edges],
                    dtype=float)


def edge_weights(spec) -> np.ndarray:
    """Per edge, the weights it stores: n_p n_q dense, the kernel's C_out C_in k² conv."""
    return np.array([np.prod(edge_weight_shape(spec, e)) for e in spec.edges], dtype=float)


def spiking_counts(spec, events: np.ndarray, workload: str) -> dict:
    """Per-sample event counts of the spiking network, each (units, parts).

    ``events``: (R, 3) mean events per sample in each part, the R rows of
    :func:`eqspike.conv.event_rows` (a run file's events: the L layers' spikes, then the conv
    edges' reach). Returns ``events`` (R, 3) as given, ``spikes`` (L, 3), ``synaptic_events``
    (E, 3) per edge of the graph (in the order of ``spec.edges``), ``neuron_updates`` (L, 3),
    ``trace_updates`` (L, 3), ``plasticity_events`` (E, 3) and ``weight_writes`` (E, 3), and
    ``graded``: whether the hidden and output layers' events are graded (the delta code:
    each carries a payload the synapse multiplies its weight by; no spike trace).

    An edge delivers the events its two layers' spikes send through it (:func:`edge_reach`:
    exact for dense and conv edges), upward, and downward unless its pre layer is the clamped
    input. What the rule does on an edge comes from its pathway
    (:meth:`eqspike.rules.Rule.pathway`): code on the lower or upper neuron's spikes makes
    each window spike of that neuron a plasticity event at every synapse (tap) it joins; an
    ``apply`` at the boundary writes every connection's update once per training sample (a
    conv edge's taps sum theirs into the shared kernel entries: one write per tap); an
    ``on_sample_end`` (a graded input) writes the connections of each input event's neuron
    once. A layer's bias writes are charged to the first edge into it (:func:`bias_edges`).
    A graded input neuron has no per-step update and no trace: it loads its value once per
    sample and sends one event (counted as its spike) to its fan-out.
    """
    sizes = np.asarray(spec.layers)
    events = np.asarray(events, dtype=float)
    rows = event_rows(spec)
    if events.shape == (len(sizes), len(EVENT_PHASES)) and rows > len(sizes):
        raise EnergyError(f"{spec.name}: the event counts have no rows for the conv edges' "
                          "events (a run recorded before they were counted): its energy cannot "
                          "be estimated exactly; train it again")
    if events.shape != (rows, len(EVENT_PHASES)):
        raise EnergyError(f"event counts of shape {events.shape} do not fit layers "
                          f"{tuple(int(n) for n in sizes)}, {rows - len(sizes)} conv reach rows "
                          f"and parts {EVENT_PHASES}")
    spikes = events[:len(sizes)]
    rule = rule_for(spec)
    training = workload == "training"
    learning = learning_parts(spec)                          # parts where σ ≠ 0
    window_steps = part_steps(spec, "training") * learning
    reach = edge_reach(spec, events)
    connections = edge_connections(spec)
    n_edges = len(spec.edges)
    delivered, plastic, writes = (np.zeros((n_edges, 3)) for _ in range(3))
    for k, edge in enumerate(spec.edges):
        up, down = reach[k]
        delivered[k] = up + (down if edge.pre > 0 else 0.0)
        path = rule.pathway(graded_edge(spec, k), spec.learning.partner)
        if path.on_pre:
            plastic[k] += up * learning
        if path.on_post:
            plastic[k] += down * learning
        if training and path.apply:
            writes[k, 2] += connections[k]                   # every connection, once
        if training and path.on_sample_end:
            writes[k, 2] += up.sum()                         # one event per non-zero input
    if training:
        for layer, k in enumerate(bias_edges(spec), start=1):
            if rule.bias_each_step:                          # the biases, at every
                writes[k] += sizes[layer] * window_steps      # window step
            else:
                writes[k, 2] += sizes[layer]                 # the biases, once
    updates = sizes[:, None] * part_steps(spec, workload)[None, :] * 1.0
    graded = spec.spiking.code == "delta"
    traces = np.zeros_like(spikes) if graded else spikes.copy()
    if spec.spiking.input_code == "graded":
        updates[0] = [sizes[0], 0.0, 0.0]                    # one load per sample
        traces[0] = 0.0
    return {"events": events, "spikes": spikes, "synaptic_events": delivered,
            "neuron_updates": updates, "trace_updates": traces, "plasticity_events": plastic,
            "weight_writes": writes, "graded": graded,
            "weight_bits": spec.synapses.weight_bits}


def dense_counts(spec, workload: str, batch: int = 50) -> dict:
    """Per-sample MACs and bytes of the rate-based reference run as dense arithmetic.

    Returns ``macs`` (E, 3) per edge of the graph and part, ``activations`` (L, 3) and
    ``bytes`` (E, 3) (weights per edge, each layer's states charged to the first edge into
    it, :func:`bias_edges`). An edge from the input computes its drive x·W once per sample;
    every other edge its upward and downward products at every step: a MAC per connection
    (:func:`edge_connections`; a conv edge: one per tap, the direct convolution at every
    position before the pooling), its stored weights (:func:`edge_weights`) read once per
    batch.
    """
    sizes = np.asarray(spec.layers, dtype=float)
    steps = part_steps(spec, workload).astype(float)
    pairs = edge_connections(spec)
    stored = edge_weights(spec)
    from_input = np.array([e.pre == 0 for e in spec.edges])
    once = np.array([1.0, 0.0, 0.0])
    macs = np.where(from_input[:, None], pairs[:, None] * once,
                    2.0 * pairs[:, None] * steps[None, :])
    activations = sizes[:, None] * steps[None, :]
    activations[0] = 0.0                                      # the input is data
    weight_reads = 4.0 * stored[:, None] / batch * np.where(from_input[:, None], once,
                                                           steps[None, :])
    state_traffic = np.zeros_like(macs)
    for layer, k in enumerate(bias_edges(spec), start=1):
        state_traffic[k] += 2 * 4.0 * sizes[layer] * steps
    if workload == "training":
        macs[:, 2] += 3.0 * pairs                             # two outer products + update
        for layer, k in enumerate(bias_edges(spec), start=1):
            macs[k, 2] += sizes[layer]                        # the bias update
        weight_reads[:, 2] += 2 * 4.0 * stored / batch        # read-modify-write per batch
    return {"macs": macs, "activations": activations, "bytes": weight_reads + state_traffic}
