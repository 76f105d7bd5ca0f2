"""The spiking engine on a graph of dense edges: several hidden layers and skip couplings.

A tiny deterministic network (sigma-delta code) with a skip coupling between hidden layers
(1 → 3) and one from the input (0 → 2), its edges listed out of sorted order, in Brian2's
runtime mode. Each edge's delivery and weight update are checked against the equation of
:mod:`eqspike.spiking` and :mod:`eqspike.rules`, from spikes and traces recorded by
monitors; the event counters against the monitored spikes.
"""

from __future__ import annotations

import brian2 as b2
import numpy as np
import pytest

from eqspike.energy import spiking_counts
from eqspike.engine import RuntimeEngine
from eqspike.schedule import SAMPLE_EVAL, SAMPLE_TRAIN, phase_signals
from eqspike.spec import spec_from_toml
from eqspike.spiking import build_network

#: (pre, post) of the test graph, in the order its network file lists them.
EDGES = [(0, 1), (1, 2), (0, 2), (2, 3), (1, 3)]
LAYERS = [4, 5, 4, 3]


def skip_spec(input_code="rate", nudging="one_sided", rule="eqspike", feedback="shared"):
    edges = ", ".join(f"{{pre = {p}, post = {q}}}" for p, q in EDGES)
    return spec_from_toml(f"""
[network]
layers = {LAYERS}
edges = [{edges}]
[spiking]
input_code = "{input_code}"
feedback = "{feedback}"
readout_steps = 6
[phases]
free_steps = 16
nudge_steps = 8
nudging = "{nudging}"
[learning]
rule = "{rule}"
rates = {[0.05] * len(EDGES)}
bias_rates = {[0.05] * (len(LAYERS) - 1)}
""", name="skip")


def _parameters(seed=5):
    rng = np.random.default_rng(seed)
    weights = [rng.uniform(-0.3, 0.6, (LAYERS[p], LAYERS[q])) for p, q in EDGES]
    biases = [rng.uniform(0.05, 0.3, n) for n in LAYERS[1:]]
    return weights, biases


def _steps(monitor):
    return np.round(monitor.t / b2.ms).astype(int)


def _raster(monitor, n, steps):
    """(n, steps) 0/1 spikes of a SpikeMonitor."""
    out = np.zeros((n, steps))
    out[np.asarray(monitor.i), _steps(monitor)] = 1.0
    return out


def _run(net):
    net.network.run(net.duration_steps * net.spec.spiking.dt_ms * b2.ms, namespace={})


@pytest.mark.parametrize("feedback", ["shared", "copy"])
@pytest.mark.parametrize("input_code, nudging", [("rate", "one_sided"),
                                                 ("graded", "symmetric")])
def test_every_edge_delivers_its_spikes_in_both_directions(input_code, nudging, feedback):
    """What a layer m receives at each step is, summed over the graph,
    Σ_{p→m} W_pmᵀ s_p(t) + Σ_{m→q} W_mq s_q(t) (the clamped input receives nothing); a
    graded input holds Ix_m = Σ_{0→m} W_0mᵀ r instead, for the whole sample. The same with
    the feedback through a copy of W (``[spiking] feedback = "copy"``)."""
    spec = skip_spec(input_code, nudging, feedback=feedback)
    weights, biases = _parameters()
    rates = np.array([[0.8, 0.3, 0.0, 0.6], [0.4, 0.9, 0.7, 0.2]])
    net = build_network(spec, 2, rates=rates, targets=np.eye(3)[[0, 2]],
                        kinds=np.array([SAMPLE_EVAL, SAMPLE_EVAL]), weights=weights,
                        biases=biases)
    spikes = [b2.SpikeMonitor(g) for g in net.layers]
    received = [b2.StateMonitor(g, "I", record=True, when="end") for g in net.layers[1:]]
    held = {m: b2.StateMonitor(net.layers[m], "Ix", record=True, when="end")
            for m in (1, 2)} if input_code == "graded" else {}
    net.network.add(*spikes, *received, *held.values())
    _run(net)
    steps = net.duration_steps
    graded = input_code == "graded"
    s = [_raster(mon, n, steps) for mon, n in zip(spikes, LAYERS)]
    for m in range(1, len(LAYERS)):
        expected = np.zeros((LAYERS[m], steps))
        for (p, q), w in zip(EDGES, weights):
            if q == m and not (graded and p == 0):
                expected += w.T @ s[p]
            if p == m:
                expected += w @ s[q]
        np.testing.assert_allclose(np.asarray(received[m - 1].I), expected, rtol=1e-12,
                                   atol=1e-12)
        assert np.abs(expected).max() > 0
    sample = spec.steps_per_sample
    for m, monitor in held.items():
        drive = sum(w.T for (p, q), w in zip(EDGES, weights) if p == 0 and q == m)
        for k in range(2):
            np.testing.assert_allclose(np.asarray(monitor.Ix)[:, k * sample:(k + 1) * sample],
                                       (drive @ rates[k])[:, None].repeat(sample, 1),
                                       rtol=1e-12)
    if graded:   # one event per non-zero input and sample
        assert s[0].sum() == np.count_nonzero(rates)


@pytest.mark.parametrize("rule, read, feedback", [("eqspike", "x", "shared"),
                                                  ("eqspike", "x", "copy"),
                                                  ("continual", "dv", "shared")])
@pytest.mark.parametrize("edge", range(len(EDGES)), ids=[f"{p}-{q}" for p, q in EDGES])
def test_each_edge_learns_by_its_rule(rule, read, feedback, edge):
    """Over one training sample, every edge's Δw_ij = lr_w Σ σ(t) v_other(t) over the
    spikes of i (v of j) and of j (v of i): v the trace x for the EqSpike rule (applied at
    the sample's end; its feedback half accumulated in the copy's synapses with
    ``feedback = "copy"``), the last step's change dv of what the synapse reads for the
    continual rule (applied at each spike)."""
    spec = skip_spec(rule=rule, feedback=feedback)
    weights, biases = _parameters(11)
    rates = np.array([[0.9, 0.5, 0.3, 0.7]])
    net = build_network(spec, 1, rates=rates, targets=np.eye(3)[[1]], weights=weights,
                        biases=biases)
    engine = RuntimeEngine(spec, 1)
    engine.set_run_parameters(net)
    p, q = EDGES[edge]
    lower, upper = net.layers[p], net.layers[q]
    # what the synapses read: after the step's update, before the spike's own jump
    v_lo = b2.StateMonitor(lower, read, record=True, when="thresholds")
    v_up = b2.StateMonitor(upper, read, record=True, when="thresholds")
    sp_lo, sp_up = b2.SpikeMonitor(lower), b2.SpikeMonitor(upper)
    net.network.add(v_lo, v_up, sp_lo, sp_up)
    _run(net)
    sign = phase_signals(spec, np.array([SAMPLE_TRAIN]))["learn_sign"]
    expected = np.zeros_like(weights[edge])
    for i, t in zip(sp_lo.i, _steps(sp_lo)):
        expected[i, :] += sign[t] * getattr(v_up, read)[:, t]
    for j, t in zip(sp_up.i, _steps(sp_up)):
        expected[:, j] += sign[t] * getattr(v_lo, read)[:, t]
    lr_w = engine.learning_rates()[0][edge]
    delta = np.asarray(net.synapses[edge].w[:]).reshape(expected.shape) - weights[edge]
    assert np.abs(expected).max() > 0, "no spike fell in a learning window"
    np.testing.assert_allclose(delta, lr_w * expected, rtol=1e-9, atol=1e-14)
    if feedback == "copy" and p > 0:   # the copy holds the new W, in the upper layer's order
        copy = next(o for o in net.network.objects if o.name == f"w{p}_{q}_feedback")
        np.testing.assert_array_equal(np.asarray(copy.w[:]).reshape(LAYERS[q], LAYERS[p]),
                                      weights[edge].T + delta.T)


def test_counters_and_synaptic_events_per_edge_equal_the_monitored_spikes():
    """On the skip graph, the in-simulation counters equal the SpikeMonitors' counts per
    layer and part, and the energy accounting's synaptic events per edge equal the monitored
    spikes of its two layers times the fan-out: S_p n_q upward and S_q n_p downward (none
    into the clamped input)."""
    spec = skip_spec("graded", "symmetric", feedback="copy")
    weights, biases = _parameters(3)
    rng = np.random.default_rng(8)
    n = 3
    net = build_network(spec, n, rates=rng.uniform(0.1, 1, (n, 4)),
                        targets=np.eye(3)[[0, 1, 2]], kinds=np.full(n, SAMPLE_TRAIN),
                        weights=weights, biases=biases)
    engine = RuntimeEngine(spec, n)
    engine.set_run_parameters(net)
    monitors = [b2.SpikeMonitor(g) for g in net.layers]
    net.network.add(*monitors)
    _run(net)
    counted = RuntimeEngine._collect(net, n).events            # (samples, layers, parts)
    signals = phase_signals(spec, np.full(n, SAMPLE_TRAIN))
    sample = spec.steps_per_sample
    expected = np.zeros_like(counted)
    for layer, mon in enumerate(monitors):
        for t in _steps(mon):
            phase, sigma = int(signals["phase"][t]), int(signals["learn_sign"][t])
            part = {-1: 1, 1: 2}.get(sigma, 0 if phase == 0 else None)
            if part is not None:
                expected[t // sample, layer, part] += 1
    np.testing.assert_array_equal(counted, expected)
    events = spiking_counts(spec, counted.mean(axis=0), "training")["synaptic_events"]
    assert events.shape == (len(EDGES), 3)
    totals = [len(mon.i) / n for mon in monitors]
    for k, (p, q) in enumerate(EDGES):
        delivered = totals[p] * LAYERS[q] + (totals[q] * LAYERS[p] if p > 0 else 0.0)
        assert events[k].sum() == pytest.approx(delivered, rel=1e-12)


def test_stdp_logging_rebuilds_every_edge_of_a_skip_graph():
    """STDP logging per edge: the changes rebuilt from the logged spikes of each edge's two
    layers add up to each logged synapse's weight change, the skip couplings included."""
    from eqspike.plasticity.stdp_log import STDPLogger, select_synapses

    spec = skip_spec()
    selection = select_synapses(spec, 6, seed=2)
    assert [len(pre) for pre, _ in selection] == [6] * len(EDGES)
    logger = STDPLogger(spec, selection)
    engine = RuntimeEngine(spec, 3, log_neurons=logger.neurons)
    weights, biases = _parameters(7)
    rng = np.random.default_rng(1)
    logger.start_epoch(weights, 0)
    result = engine.run_chunk(rng.uniform(0.2, 1, (3, 4)), np.eye(3)[[0, 1, 2]],
                              np.full(3, SAMPLE_TRAIN), weights, biases)
    logger.add_chunk(result.logged_spikes, engine.learning_rates(0)[0], result.weights, 0, 3, 3)
    assert np.all(logger.n_events > 0)
    for k, (pre, post) in enumerate(selection):
        change = result.weights[k][pre, post] - weights[k][pre, post]
        assert np.abs(change).max() > 0
    assert logger.max_mismatch.max() < 1e-12


def test_the_energy_breakdown_names_each_edge():
    from eqspike.energy.report import EnergyReport

    spec = skip_spec()
    spikes = np.ones((len(LAYERS), 3))
    counts = spiking_counts(spec, spikes, "training")
    report = EnergyReport("skip", tuple(LAYERS), tuple(EDGES), 1, 10, "gpu", 50,
                          energy={"chip": {"training": {
                              "synaptic_events": counts["synaptic_events"],
                              "spikes": counts["spikes"]}}})
    text = report.breakdown("chip", "training")
    assert "edge 1-3" in text and "edge 0-2" in text and "layer 3" in text
    # a skip edge's events: S_1 n_3 up and S_3 n_1 down, per part
    np.testing.assert_allclose(counts["synaptic_events"][EDGES.index((1, 3))],
                               [LAYERS[3] + LAYERS[1]] * 3)
