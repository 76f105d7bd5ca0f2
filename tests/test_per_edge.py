"""Every per-edge and per-layer quantity on a graph where each edge has its own setting.

A graph with two skip couplings (0 -> 2 from the input, 1 -> 3) and five edges of five
learning rates, three layers of three bias rates and four layers of four sizes: a value
read from the wrong edge or layer (a rate, a scale, a fan-in, a count) shows here. The
expected values are written from the formulas in the modules' docstrings
(:mod:`eqspike.rules`, :mod:`eqspike.parameters`, :mod:`eqspike.energy`,
:mod:`eqspike.reference.learning`), never taken from the engine's accessors.
"""

from __future__ import annotations

import brian2 as b2
import numpy as np
import pytest

from eqspike.energy import spiking_counts
from eqspike.engine import RuntimeEngine
from eqspike.parameters import as_lists, init_parameters
from eqspike.rules import rule_scales
from eqspike.schedule import SAMPLE_TRAIN, phase_signals
from eqspike.spec import spec_from_toml
from eqspike.spiking import build_network

LAYERS = [5, 6, 4, 3]
EDGES = [(0, 1), (1, 2), (2, 3), (0, 2), (1, 3)]
RATES = [0.011, 0.023, 0.037, 0.041, 0.053]
BIAS_RATES = [0.07, 0.017, 0.029]
T1, T2, TAU = 16, 8, 5.0


def skip_spec(rule="eqspike", code="sigma_delta", input_code="rate", nudging="symmetric",
              path="spiking"):
    edges = ", ".join(f"{{pre = {a}, post = {b}}}" for a, b in EDGES)
    if path == "rate":
        return spec_from_toml(f"""
[network]
layers = {LAYERS}
edges = [{edges}]
path = "rate"
activation = "hard_sigmoid"
[phases]
free_steps = {T1}
nudge_steps = {T2}
beta = 0.5
[learning]
rates = {RATES}
init_gain = 1.7
[reference]
batch_size = 3
""", name="per-edge-rate")
    return spec_from_toml(f"""
[network]
layers = {LAYERS}
edges = [{edges}]
[spiking]
code = "{code}"
input_code = "{input_code}"
tau_trace = {TAU}
readout_steps = 6
[phases]
free_steps = {T1}
nudge_steps = {T2}
beta = 1.0
nudging = "{nudging}"
[learning]
rule = "{rule}"
rates = {RATES}
bias_rates = {BIAS_RATES}
init_gain = 1.7
""", name="per-edge")


#: lr_w and lr_b from eqspike.rules' docstring, with β_eff = 2β = 2 (symmetric), T_w = T2
#: = 8 and the trace's read mean m = 1 − 1/τ = 0.8:
#:   eqspike, spiking pair:  η / (2 β_eff T_w m) = η / 25.6
#:   graded input pair:      η / (β_eff T_w)     = η / 16
#:   delta:                  η / β_eff           = η / 2
#:   biases (eqspike):       η_b / (β_eff T_w)   = η_b / 16;  (delta) η_b / 2
def expected_scales(rule, input_code):
    if rule == "delta":
        return [r / 2 for r in RATES], [r / 2 for r in BIAS_RATES]
    graded = input_code == "graded"
    lr_w = [r / 16 if graded and pre == 0 else r / 25.6 for r, (pre, _) in zip(RATES, EDGES)]
    return lr_w, [r / 16 for r in BIAS_RATES]


@pytest.mark.parametrize("rule, code, input_code", [("eqspike", "sigma_delta", "rate"),
                                                    ("eqspike", "sigma_delta", "graded"),
                                                    ("delta", "delta", "graded")])
def test_each_edge_and_layer_gets_its_own_scale_and_the_engine_hands_it_over(rule, code,
                                                                            input_code):
    """rule_scales per edge and layer, and the lr_w each edge's Synapses (found by its
    name, w{pre}_{post}) and lr_b each layer's group hold once the engine has set them."""
    spec = skip_spec(rule, code, input_code)
    lr_w, lr_b = expected_scales(rule, input_code)
    got_w, got_b = rule_scales(spec)
    np.testing.assert_allclose(got_w, lr_w, rtol=1e-12)
    np.testing.assert_allclose(got_b, lr_b, rtol=1e-12)
    net = build_network(spec, 1)
    RuntimeEngine(spec, 1).set_run_parameters(net)
    by_name = {obj.name: obj for obj in net.network.objects}
    for (pre, post), want in zip(EDGES, lr_w):
        assert float(by_name[f"w{pre}_{post}"].lr_w[:]) == pytest.approx(want, rel=1e-12)
    for layer, want in enumerate(lr_b, start=1):
        assert float(by_name[f"layer{layer}"].lr_b[:]) == pytest.approx(want, rel=1e-12)


def test_one_sample_moves_each_edge_and_bias_by_its_own_rate():
    """The EqSpike rule on the skip graph (rate-coded input): over one training sample edge
    k moves by (η_k / 25.6) Σ σ(t) (s_pre x_post + s_post x_pre) of the monitored spikes
    and traces, and layer l's bias by (η_b,l / 16) Σ σ(t) s_l."""
    spec = skip_spec()
    rng = np.random.default_rng(11)
    weights = [rng.uniform(-0.3, 0.7, (LAYERS[a], LAYERS[b])) for a, b in EDGES]
    biases = [rng.uniform(0.0, 0.3, n) for n in LAYERS[1:]]
    net = build_network(spec, 1, rates=rng.uniform(0.3, 1.0, (1, LAYERS[0])),
                        targets=np.eye(3)[[2]], weights=weights, biases=biases)
    RuntimeEngine(spec, 1).set_run_parameters(net)
    traces = [b2.StateMonitor(g, "x", record=True, when="thresholds") for g in net.layers]
    spikes = [b2.SpikeMonitor(g) for g in net.layers]
    net.network.add(*traces, *spikes)
    net.network.run(net.duration_steps * b2.ms, namespace={})
    steps = net.duration_steps
    sign = phase_signals(spec, np.array([SAMPLE_TRAIN]))["learn_sign"][:steps]
    raster = []
    for monitor, n in zip(spikes, LAYERS):
        s = np.zeros((steps, n))
        s[np.round(monitor.t / b2.ms).astype(int), np.asarray(monitor.i)] = 1.0
        raster.append(s)
    x = [np.asarray(m.x).T for m in traces]
    lr_w, lr_b = expected_scales("eqspike", "rate")
    moved = {}
    for k, (a, b) in enumerate(EDGES):
        signal = (sign[:, None] * raster[a]).T @ x[b] + ((sign[:, None] * raster[b]).T @ x[a]).T
        got = np.asarray(net.synapses[k].w[:]).reshape(weights[k].shape) - weights[k]
        assert np.abs(signal).max() > 0
        np.testing.assert_allclose(got, lr_w[k] * signal, rtol=1e-9, atol=1e-14)
        moved[k] = np.abs(got).max()
    assert len({round(v, 12) for v in moved.values()}) == len(EDGES)
    for layer in (1, 2, 3):
        counted = (sign[:, None] * raster[layer]).sum(axis=0)
        got = np.asarray(net.layers[layer].b[:]) - biases[layer - 1]
        np.testing.assert_allclose(got, lr_b[layer - 1] * counted, rtol=1e-9, atol=1e-14)


def test_initial_weights_take_each_edges_fan_in():
    """U(±g/√fan_in) per edge (g = 1.7), fan_in the edge's own pre layer; a bias that of
    the first edge into its layer (eqspike.parameters)."""
    spec = skip_spec()
    weights, biases = as_lists(spec, init_parameters(spec, 3))
    for (a, _), w in zip(EDGES, weights):
        bound = 1.7 / np.sqrt(LAYERS[a])
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.75 * bound
    first_in = {1: 0, 2: 1, 3: 2}                 # the first edge into each layer: its pre
    for layer, b in enumerate(biases, start=1):
        bound = 1.7 / np.sqrt(LAYERS[first_in[layer]])
        assert np.abs(b).max() <= bound and np.abs(b).max() > 0.5 * bound


def test_energy_counts_each_edge_from_its_own_two_layers():
    """Synaptic events per edge (eqspike.energy): the pre layer's spikes times the post
    layer's size, plus (unless the pre layer is the clamped input, which receives nothing)
    the post layer's times the pre layer's; plasticity events both sides' in the learning
    windows only (symmetric: the −β and +β phases; the rate-coded input's synapses learn at
    their post neuron's spikes too); a weight write per connection, once per training
    sample."""
    spec = skip_spec()
    events = np.array([[7.0, 1.0, 2.0], [11.0, 3.0, 5.0], [13.0, 2.0, 1.0],
                       [17.0, 4.0, 6.0]])          # spikes per layer, per part
    counts = spiking_counts(spec, events, "training")
    for k, (a, b) in enumerate(EDGES):
        up = events[a] * LAYERS[b]
        down = events[b] * LAYERS[a] if a > 0 else 0.0
        np.testing.assert_allclose(counts["synaptic_events"][k], up + down, rtol=1e-12)
        np.testing.assert_allclose(counts["plasticity_events"][k],
                                   (up + events[b] * LAYERS[a]) * np.array([0.0, 1.0, 1.0]),
                                   rtol=1e-12)
        assert counts["weight_writes"][k, 2] >= LAYERS[a] * LAYERS[b]


def test_the_rate_reference_gives_each_edge_its_own_rate():
    """One SGD step of symmetric EP on a batch (eqspike.reference.learning): edge k moves by
    η_k / (2β B) Σ_batch (s_pre⁺ᵀ s_post⁺ − s_pre⁻ᵀ s_post⁻), written here as outer products
    of the relaxed states; each bias by the rate of the first edge into its layer."""
    from eqspike.reference.learning import learning_rates, make_optimizer, train_batch
    from eqspike.reference.network import HopfieldNetwork, init_params

    spec = skip_spec(path="rate")
    net = HopfieldNetwork(spec, init_params(spec, 2))
    before = {k: v.copy() for k, v in net.params.items()}
    rng = np.random.default_rng(3)
    x, y = rng.uniform(0, 1, (3, LAYERS[0])), np.eye(3)[[0, 2, 1]]
    free = net.relax(x, net.zero_states(3), T1)
    plus = [net.rho(u) for u in net.relax(x, free, T2, 0.5, y)]
    minus = [net.rho(u) for u in net.relax(x, free, T2, -0.5, y)]
    rates = learning_rates(net, spec)
    train_batch(net, make_optimizer(spec), x, y, spec, rates, rng)
    layers_p, layers_m = [x] + plus, [x] + minus
    for k, (a, b) in enumerate(EDGES):
        diff = layers_p[a].T @ layers_p[b] - layers_m[a].T @ layers_m[b]
        got = net.params[f"W_{a}_{b}"] - before[f"W_{a}_{b}"]
        np.testing.assert_allclose(got, RATES[k] / (2 * 0.5 * 3) * diff, rtol=1e-9,
                                   atol=1e-13)
    for layer, first in ((1, 0), (2, 1), (3, 2)):
        diff = (plus[layer - 1] - minus[layer - 1]).sum(axis=0)
        got = net.params[f"b_{layer}"] - before[f"b_{layer}"]
        np.testing.assert_allclose(got, RATES[first] / (2 * 0.5 * 3) * diff, rtol=1e-9,
                                   atol=1e-13)
