"""Convolutions in the spiking engine: shared kernels, against the rate reference's ConvEdge.

The taps of a conv edge (:mod:`eqspike.conv`) reproduce ConvEdge's forward product, its
transpose and its gradient; a tiny deterministic spiking network with two conv edges (the
first from the input, the second pooled) delivers, at every step, exactly ConvEdge's
products of the monitored spikes, and one training sample moves each kernel entry by the
sum over its taps of the per-connection EqSpike updates.
"""

from __future__ import annotations

import brian2 as b2
import numpy as np
import pytest

from eqspike.conv import conv_taps
from eqspike.engine import RuntimeEngine, StandaloneEngine
from eqspike.reference.edges import ConvEdge
from eqspike.schedule import SAMPLE_EVAL, SAMPLE_TRAIN, phase_signals
from eqspike.spec import spec_from_toml
from eqspike.spiking import build_network


@pytest.mark.parametrize("pre, post, kernel, stride, padding, pool", [
    ((2, 6, 6), (3, 4, 4), 3, 1, 0, 1), ((2, 6, 6), (3, 2, 2), 3, 1, 0, 2),
    ((1, 7, 7), (2, 4, 4), 3, 2, 1, 1), ((2, 8, 8), (3, 2, 2), 3, 1, 1, 4),
    ((1, 9, 9), (2, 2, 2), 3, 2, 0, 2)])
def test_the_taps_are_the_rate_references_conv_edge(pre, post, kernel, stride, padding, pool):
    edge = ConvEdge(pre, post, kernel, stride, padding, pool)
    rng = np.random.default_rng(0)
    w = rng.normal(size=edge.weight_shape)
    x, y = rng.normal(size=(1, int(np.prod(pre)))), rng.normal(size=(1, int(np.prod(post))))
    taps = conv_taps(pre, post, kernel, stride, padding, pool)
    assert taps.scale == 1 / pool ** 2 and taps.kernel_size == w.size
    flat = w.ravel()
    up, down, grad = np.zeros(y.size), np.zeros(x.size), np.zeros(w.size)
    np.add.at(up, taps.post, taps.scale * flat[taps.entry] * x[0, taps.pre])
    np.add.at(down, taps.pre, taps.scale * flat[taps.entry] * y[0, taps.post])
    np.add.at(grad, taps.entry, taps.scale * x[0, taps.pre] * y[0, taps.post])
    np.testing.assert_allclose(up, edge.forward(w, x)[0], atol=1e-12)
    np.testing.assert_allclose(down, edge.backward(w, y)[0], atol=1e-12)
    np.testing.assert_allclose(grad, edge.grad(x, y).ravel(), atol=1e-12)


#: input (1, 6, 6) -conv 3x3, padding 1-> (2, 6, 6) -conv 3x3, pool 2-> (2, 2, 2) -dense-> 3
SHAPES = [(1, 6, 6), (2, 6, 6), (2, 2, 2), (3,)]
CONV = [dict(kernel=3, stride=1, padding=1, pool=1), dict(kernel=3, stride=1, padding=0, pool=2)]


def conv_spec(input_code="rate", nudging="one_sided", feedback="shared", rule="eqspike"):
    return spec_from_toml(f"""
[network]
layers = {[int(np.prod(s)) for s in SHAPES]}
shapes = {[list(s) for s in SHAPES]}
edges = [{{pre = 0, post = 1, kind = "conv", kernel = 3, padding = 1}},
         {{pre = 1, post = 2, kind = "conv", kernel = 3, pool = 2}},
         {{pre = 2, post = 3}}]
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
rates = [0.05, 0.05, 0.05]
bias_rates = [0.05, 0.05, 0.05]
""", name="conv")


def _parameters(seed=3):
    rng = np.random.default_rng(seed)
    edges = [ConvEdge(SHAPES[k], SHAPES[k + 1], **CONV[k]) for k in range(2)]
    weights = [rng.uniform(-0.2, 0.5, e.weight_shape) for e in edges]
    weights.append(rng.uniform(-0.3, 0.6, (8, 3)))
    biases = [rng.uniform(0.05, 0.3, int(np.prod(s))) for s in SHAPES[1:]]
    return edges, weights, biases


def _raster(monitor, n, steps):
    out = np.zeros((steps, n))
    out[np.round(monitor.t / b2.ms).astype(int), np.asarray(monitor.i)] = 1.0
    return out


def _run(net):
    net.network.run(net.duration_steps * net.spec.spiking.dt_ms * b2.ms, namespace={})


@pytest.mark.parametrize("input_code, feedback", [("rate", "shared"), ("graded", "shared"),
                                                  ("rate", "copy")])
def test_conv_edges_deliver_the_rate_references_products(input_code, feedback):
    """At every step, layer 1 receives ConvEdge₀₁ forward of the input's spikes (graded:
    holds it for the sample, from the pixel values) plus ConvEdge₁₂ᵀ of layer 2's spikes
    (through the edge's on_post, or its feedback taps); layer 2 receives ConvEdge₁₂ forward
    of layer 1's spikes plus W₂₃ s₃; to 1e-12."""
    spec = conv_spec(input_code, feedback=feedback)
    edges, weights, biases = _parameters()
    rng = np.random.default_rng(4)
    rates = rng.uniform(0, 1, (2, 36)) * (rng.uniform(0, 1, (2, 36)) > 0.2)
    net = build_network(spec, 2, rates=rates, targets=np.eye(3)[[0, 2]],
                        kinds=np.full(2, SAMPLE_EVAL), weights=weights, biases=biases)
    spikes = [b2.SpikeMonitor(g) for g in net.layers]
    received = [b2.StateMonitor(g, "I", record=True, when="end") for g in net.layers[1:]]
    held = b2.StateMonitor(net.layers[1], "Ix", record=True, when="end") \
        if input_code == "graded" else None
    net.network.add(*spikes, *received, *([held] if held is not None else []))
    _run(net)
    steps = net.duration_steps
    s = [_raster(m, int(np.prod(shape)), steps) for m, shape in zip(spikes, SHAPES)]
    graded = input_code == "graded"
    expected_1 = edges[1].backward(weights[1], s[2]) + (0 if graded else
                                                       edges[0].forward(weights[0], s[0]))
    expected_2 = edges[1].forward(weights[1], s[1]) + s[3] @ weights[2].T
    for got, expected in ((received[0].I, expected_1), (received[1].I, expected_2),
                          (received[2].I, s[2] @ weights[2])):
        np.testing.assert_allclose(np.asarray(got).T, expected, rtol=1e-12, atol=1e-12)
        assert np.abs(expected).max() > 0
    if graded:
        sample = spec.steps_per_sample
        for k in range(2):
            drive = edges[0].forward(weights[0], rates[k:k + 1])[0]
            np.testing.assert_allclose(np.asarray(held.Ix)[:, k * sample:(k + 1) * sample],
                                       drive[:, None].repeat(sample, 1), rtol=1e-12)


@pytest.mark.parametrize("rule, read, feedback", [("eqspike", "x", "shared"),
                                                  ("eqspike", "x", "copy"),
                                                  ("continual", "dv", "shared")])
def test_a_kernel_entry_moves_by_the_sum_of_its_taps_updates(rule, read, feedback):
    """One training sample: each entry of the pooled conv kernel (edge 1 → 2) moves by
    lr_w Σ_taps (1/p²) Σ_t σ(t) (s_pre v_post + s_post v_pre), the update of every
    connection it serves, summed: v the trace x for the EqSpike rule (applied at the
    sample's end; with the feedback taps, the second term accumulated there), the last
    step's change dv of what the synapse reads for the continual rule (the kernel moving at
    every step); the input's conv kernel by the same from its own taps."""
    spec = conv_spec(feedback=feedback, rule=rule)
    edges, weights, biases = _parameters(5)
    rng = np.random.default_rng(6)
    net = build_network(spec, 1, rates=rng.uniform(0.3, 1, (1, 36)), targets=np.eye(3)[[1]],
                        weights=weights, biases=biases)
    engine = RuntimeEngine(spec, 1)
    engine.set_run_parameters(net)
    traces = [b2.StateMonitor(g, read, record=True, when="thresholds") for g in net.layers]
    spikes = [b2.SpikeMonitor(g) for g in net.layers]
    # the kernels after every step (the continual rule moves them step by step)
    kernels = [b2.StateMonitor(net.weights[k], "w", record=True, when="end", order=100,
                               dt=spec.spiking.dt_ms * b2.ms) for k in range(2)]
    net.network.add(*traces, *spikes, *kernels)
    _run(net)
    steps = net.duration_steps
    sign = phase_signals(spec, np.array([SAMPLE_TRAIN]))["learn_sign"][:steps]
    lr_w = engine.learning_rates()[0]
    for k, edge in enumerate(edges):
        taps = conv_taps(SHAPES[k], SHAPES[k + 1], **CONV[k])
        s_pre = _raster(spikes[k], int(np.prod(SHAPES[k])), steps)
        s_post = _raster(spikes[k + 1], int(np.prod(SHAPES[k + 1])), steps)
        x_pre = np.asarray(getattr(traces[k], read)).T
        x_post = np.asarray(getattr(traces[k + 1], read)).T
        per_step = sign[:, None] * (s_pre[:, taps.pre] * x_post[:, taps.post]
                                    + s_post[:, taps.post] * x_pre[:, taps.pre])   # (t, tap)
        expected = np.zeros(taps.kernel_size)
        np.add.at(expected, taps.entry, lr_w[k] * taps.scale * per_step.sum(axis=0))
        got = np.asarray(net.weights[k].w[:]) - weights[k].ravel()
        assert np.abs(expected).max() > 0
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-14)
        if rule == "continual":      # ... and by the taps' signals up to each step
            so_far = np.zeros((steps, taps.kernel_size))
            np.add.at(so_far.T, taps.entry, lr_w[k] * taps.scale * per_step.cumsum(axis=0).T)
            moved = np.asarray(kernels[k].w).T - weights[k].ravel()
            middle = spec.phases.free_steps + spec.phases.nudge_steps // 2
            assert np.abs(so_far[middle]).max() > 0
            assert np.abs(so_far[-1] - so_far[middle]).max() > 0
            np.testing.assert_allclose(moved, so_far, rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("rule", ["eqspike", "end_of_phase"])
def test_a_graded_input_conv_kernel_learns_from_the_signed_counts(rule):
    """A graded input's conv kernel: ΔW[entry] = lr_w Σ_taps (1/p²) r_pre H_post, with H
    the post neuron's phase-signed count of window spikes, whatever the rule (a rule
    without a per-spike signal, end_of_phase, is admitted on a graded input's edge)."""
    spec = conv_spec("graded", "one_sided")
    edges, weights, biases = _parameters(7)
    if rule != "eqspike":     # a conv edge between spiking layers takes eqspike or continual:
        spec = spec.replace(  # the pooled one becomes dense
            network={"edges": [spec.edges[0], {"pre": 1, "post": 2}, {"pre": 2, "post": 3}]},
            learning={"rule": rule})
        weights[1] = np.random.default_rng(9).uniform(-0.2, 0.5, (72, 8))
    rates = np.random.default_rng(8).uniform(0, 1, (1, 36))
    net = build_network(spec, 1, rates=rates, targets=np.eye(3)[[2]], weights=weights,
                        biases=biases)
    engine = RuntimeEngine(spec, 1)
    engine.set_run_parameters(net)
    hidden = b2.SpikeMonitor(net.layers[1])
    net.network.add(hidden)
    _run(net)
    _check_graded_kernel_update(spec, engine, net, hidden, rates, weights[0],
                                conv_taps(SHAPES[0], SHAPES[1], **CONV[0]))


def _check_graded_kernel_update(spec, engine, net, hidden, rates, before, taps):
    """One training sample moved the graded input's kernel (edge 0) by lr_w Σ_taps (1/p²)
    r_pre H_post, H the post neuron's phase-signed count of the monitored window spikes."""
    sign = phase_signals(spec, np.array([SAMPLE_TRAIN]))["learn_sign"]
    t = np.round(hidden.t / b2.ms).astype(int)
    counts = np.bincount(hidden.i, weights=sign[t], minlength=spec.layers[1])
    expected = np.zeros(taps.kernel_size)
    np.add.at(expected, taps.entry,
              engine.learning_rates()[0][0] * taps.scale * rates[0, taps.pre] * counts[taps.post])
    assert np.abs(expected).max() > 0
    np.testing.assert_allclose(np.asarray(net.weights[0].w[:]) - before.ravel(), expected,
                               rtol=1e-9, atol=1e-14)


@pytest.mark.standalone
def test_conv_standalone_equals_runtime(build_cache):
    """The compiled build (kernel groups passed by run_args, taps reading them through
    linked variables), with 2 OpenMP threads, gives the runtime mode's weights, readouts
    and counts: the taps' writes into shared kernel entries do not race."""
    spec = conv_spec("graded", "one_sided")
    _, weights, biases = _parameters(9)
    rng = np.random.default_rng(10)
    n = 6
    args = (rng.uniform(0, 1, (n, 36)), np.eye(3)[rng.integers(0, 3, n)],
            np.r_[np.full(n - 1, SAMPLE_TRAIN), [SAMPLE_EVAL]], weights, biases)
    runtime = RuntimeEngine(spec, n).run_chunk(*args)
    compiled = StandaloneEngine(spec, n, cache_dir=build_cache, threads=2).run_chunk(*args)
    for x, y in zip(runtime.weights + runtime.biases, compiled.weights + compiled.biases):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)
    assert runtime.weights[0].shape == (2, 1, 3, 3)
    for before, after in zip(weights, runtime.weights):   # every kernel learned
        assert not np.allclose(after, before)
    np.testing.assert_array_equal(runtime.readout, compiled.readout)
    np.testing.assert_array_equal(runtime.events, compiled.events)


def _fan(edge: ConvEdge, n_pre: int, pool: int):
    """Taps per pre and per post neuron, from ConvEdge alone: with a kernel of ones the
    forward product of the unit vectors holds (1/p²) x the taps joining each pair."""
    pairs = edge.forward(np.ones(edge.weight_shape), np.eye(n_pre)) * pool ** 2   # (pre, post)
    assert np.allclose(pairs, np.round(pairs))
    return pairs.sum(axis=1), pairs.sum(axis=0)


def test_counters_count_each_conv_edges_events_through_its_taps():
    """The event counters' reach rows (conv.reach_rows) equal the monitored spikes of each
    conv edge's pre layer weighted by their fan-out and its post layer's by their fan-in
    (the fans from ConvEdge), per sample and part; the energy accounting's synaptic events
    per edge follow: upward for the input's conv edge, both ways for the pooled one."""
    from eqspike.conv import event_row_labels, event_rows
    from eqspike.energy import spiking_counts

    spec = conv_spec("graded", "symmetric", feedback="copy")
    edges, weights, biases = _parameters(11)
    rng = np.random.default_rng(12)
    n = 2
    rates = rng.uniform(0, 1, (n, 36)) * (rng.uniform(0, 1, (n, 36)) > 0.3)
    net = build_network(spec, n, rates=rates, targets=np.eye(3)[[0, 2]],
                        kinds=np.full(n, SAMPLE_TRAIN), weights=weights, biases=biases)
    engine = RuntimeEngine(spec, n)
    engine.set_run_parameters(net)
    monitors = [b2.SpikeMonitor(g) for g in net.layers]
    net.network.add(*monitors)
    _run(net)
    counted = RuntimeEngine._collect(net, n).events
    assert counted.shape == (n, event_rows(spec), 3) == (n, 8, 3)
    assert event_row_labels(spec)[4:6] == ["edge 0-1 up", "edge 0-1 down"]
    signals = phase_signals(spec, np.full(n, SAMPLE_TRAIN))
    sample = spec.steps_per_sample
    sizes = [int(np.prod(s)) for s in SHAPES]
    fans = [_fan(edges[k], sizes[k], CONV[k]["pool"]) for k in range(2)]
    ones = [np.ones(size) for size in sizes]
    # layer -> its rows: its own spikes, then the reach rows it feeds (edge 0 up, edge 0
    # down, edge 1 up, edge 1 down), each spike weighted by the neuron's taps there
    rows = {0: [0, 4], 1: [1, 5, 6], 2: [2, 7], 3: [3]}
    weight = {0: [ones[0], fans[0][0]], 1: [ones[1], fans[0][1], fans[1][0]],
              2: [ones[2], fans[1][1]], 3: [ones[3]]}
    expected = np.zeros_like(counted)
    for layer, mon in enumerate(monitors):
        for i, t in zip(np.asarray(mon.i), np.round(mon.t / b2.ms).astype(int)):
            phase, sigma = int(signals["phase"][t]), int(signals["learn_sign"][t])
            part = {-1: 1, 1: 2}.get(sigma, 0 if phase == 0 else None)
            if part is not None:
                for row, w in zip(rows[layer], weight[layer]):
                    expected[t // sample, row, part] += w[i]
    assert expected[:, 4:].sum() > 0
    np.testing.assert_array_equal(counted, expected)
    events = spiking_counts(spec, counted.mean(axis=0), "training")["synaptic_events"]
    mean = counted.mean(axis=0).sum(axis=1)
    np.testing.assert_allclose(events.sum(axis=1),
                               [mean[4], mean[6] + mean[7], mean[2] * 3 + mean[3] * 8],
                               rtol=1e-12)


def test_a_pooled_graded_conv_kernel_takes_the_pooling_factor():
    """A graded input's conv edge with 2×2 pooling: it delivers ConvEdge's forward product
    of the pixel values (held for the sample) and its kernel moves by lr_w Σ_taps (1/4)
    r_pre H_post, the pooling factor in both."""
    shapes = [(1, 6, 6), (2, 3, 3), (3,)]
    spec = spec_from_toml(f"""
[network]
layers = {[int(np.prod(s)) for s in shapes]}
shapes = {[list(s) for s in shapes]}
edges = [{{pre = 0, post = 1, kind = "conv", kernel = 3, padding = 1, pool = 2}},
         {{pre = 1, post = 2}}]
[spiking]
input_code = "graded"
readout_steps = 6
[phases]
free_steps = 16
nudge_steps = 8
nudging = "symmetric"
beta = 2.0
[learning]
rates = [0.05, 0.05]
bias_rates = [0.05, 0.05]
""", name="pooled-graded")
    rng = np.random.default_rng(13)
    edge = ConvEdge(shapes[0], shapes[1], kernel=3, stride=1, padding=1, pool=2)
    weights = [rng.uniform(-0.2, 0.35, edge.weight_shape), rng.uniform(-0.3, 0.6, (18, 3))]
    biases = [rng.uniform(0.05, 0.3, 18), rng.uniform(0.05, 0.3, 3)]
    rates = rng.uniform(0, 1, (1, 36))
    net = build_network(spec, 1, rates=rates, targets=np.eye(3)[[1]], weights=weights,
                        biases=biases)
    engine = RuntimeEngine(spec, 1)
    engine.set_run_parameters(net)
    hidden = b2.SpikeMonitor(net.layers[1])
    held = b2.StateMonitor(net.layers[1], "Ix", record=True, when="end")
    net.network.add(hidden, held)
    _run(net)
    np.testing.assert_allclose(np.asarray(held.Ix)[:, 1], edge.forward(weights[0], rates)[0],
                               rtol=1e-12)
    taps = conv_taps(shapes[0], shapes[1], 3, 1, 1, 2)
    assert taps.scale == 0.25
    _check_graded_kernel_update(spec, engine, net, hidden, rates, weights[0], taps)
