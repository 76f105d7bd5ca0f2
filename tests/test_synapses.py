"""A chip's synapses (eqspike.synapses): one-way couplings, weights of few bits, noisy
updates, in both engines, against the update's equation

    w ← Q( clip( (1 − λ) w + g (1 + σ_c ξ) Δw, −R, R ) )

written out here, with Δw the rule's change computed from the monitored sent values (the
delta rule: exact) on tiny graphs with conv, dense and skip edges.
"""

from __future__ import annotations

import brian2 as b2
import numpy as np
import pytest

from eqspike.engine import RuntimeEngine, StandaloneEngine
from eqspike.rules import effective_beta
from eqspike.schedule import SAMPLE_EVAL, SAMPLE_TRAIN
from eqspike.spec import SpecError, spec_from_toml
from eqspike.synapses import apply_update, level_step, quantize
from eqspike.spiking import build_network

from .test_delta import EDGES, RATES, _edges, _inputs, _parameters, delta_spec


def chip_spec(theta=0.05, **synapses):
    """test_delta's conv + skip graph (delta code, feedback copies), with [synapses]."""
    spec = delta_spec("symmetric", "copy", theta=theta, theta_nudged=theta / 4)
    return spec.replace(synapses=synapses) if synapses else spec


def _feedback(seed=21):
    """Feedback weights B for the edges between non-input layers (1 -> 2 conv, 2 -> 3,
    1 -> 3), None for the input's edge."""
    rng = np.random.default_rng(seed)
    return [None] + [rng.uniform(-1.0, 1.2, e.weight_shape) / np.sqrt(e.fan_in)
                     for e in _edges()[1:]]


def _chunk(spec, n=3, seed=4, kinds=None, feedback=None, gains=None, mode="runtime",
           cache=None):
    weights, biases = _parameters(seed)
    rates, targets = _inputs(n, seed + 1)
    kinds = np.full(n, SAMPLE_TRAIN) if kinds is None else kinds
    engine = RuntimeEngine(spec, n) if mode == "runtime" else StandaloneEngine(
        spec, n, cache_dir=cache)
    return engine.run_chunk(rates, targets, kinds, weights, biases, feedback=feedback,
                            gains=gains), (weights, biases, rates, targets)


def test_one_way_couplings_with_b_equal_to_w_are_the_symmetric_network():
    """B = W at the start, no decay, no noise: the asymmetric network (B in the feedback
    copies and a conv kernel of its own) trains to the symmetric one's weights, bit for
    bit, and its B ends equal to its W."""
    symmetric, (weights, _, _, _) = _chunk(chip_spec())
    asymmetric, _ = _chunk(chip_spec(coupling="asymmetric"),
                           feedback=[None] + [np.array(w) for w in weights[1:]])
    for a, b in zip(symmetric.weights + symmetric.biases,
                    asymmetric.weights + asymmetric.biases):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(symmetric.readout, asymmetric.readout)
    for w, fb in zip(asymmetric.weights[1:], asymmetric.feedback[1:]):
        np.testing.assert_array_equal(w, fb)
    assert asymmetric.feedback[0] is None


def _monitored(spec, feedback, kinds, variables=("rhohat", "I")):
    weights, biases = _parameters(4)
    rates, targets = _inputs(1, 5)
    net = build_network(spec, 1, rates=rates, targets=targets, kinds=kinds, weights=weights,
                        biases=biases)
    engine = RuntimeEngine(spec, 1)
    engine.set_run_parameters(net)
    for holder, name, values in engine.parameter_arrays(net, weights, feedback):
        setattr(holder, name, values)
    monitors = [b2.StateMonitor(net.layers[k], list(variables), record=True, when="end")
                for k in (1, 2, 3)]
    net.network.add(*monitors)
    net.network.run(net.duration_steps * b2.ms, namespace={})
    return net, weights, biases, rates, [{v: np.asarray(getattr(m, v)).T for v in variables}
                                          for m in monitors]


def test_the_lower_layer_receives_the_feedback_weights():
    """With one-way couplings a layer's input after every step is Σ A(W) ρ̂ from below plus
    Σ A(B)ᵀ ρ̂ from above, through the conv taps of the feedback kernel, the dense copy
    and the skip coupling's copy (an evaluation sample)."""
    spec = chip_spec(coupling="asymmetric")
    feedback = _feedback()
    net, weights, _, _, seen = _monitored(spec, feedback, np.full(1, SAMPLE_EVAL))
    steps = spec.steps_per_sample
    layers = [None] + [got["rhohat"][:steps] for got in seen]
    expected = [0.0, 0.0, 0.0]
    for (a, b, _), edge, w, fb in zip(EDGES, _edges(), weights, feedback):
        if a > 0:
            expected[b - 1] = expected[b - 1] + edge.forward(w, layers[a])
            expected[a - 1] = expected[a - 1] + edge.backward(fb, layers[b])
    for got, want in zip(seen, expected):
        np.testing.assert_allclose(got["I"][:steps], want, rtol=0, atol=1e-12)
    # and it is not the symmetric network's: B's products differ from W's
    assert not np.allclose(_edges()[1].backward(weights[1], layers[2]),
                           _edges()[1].backward(feedback[1], layers[2]))


def _ep_change(spec, seen, rates, beta_eff):
    """Δw per edge (and per bias) of the delta rule, from the monitored sent values: η/β_eff
    (ρ̂⁺ρ̂⁺ − ρ̂⁻ρ̂⁻) (eqspike.rules, Rule delta)."""
    t1, t2 = spec.phases.free_steps, spec.phases.nudge_steps
    plus = [rates] + [got["rhohat"][spec.steps_per_sample - 1][None, :] for got in seen]
    minus = [rates] + [got["rhohat"][t1 + t2 - 1][None, :] for got in seen]
    return [RATES[k] / beta_eff * (edge.grad(plus[a], plus[b]) - edge.grad(minus[a], minus[b]))
            for k, ((a, b, _), edge) in enumerate(zip(EDGES, _edges()))]


@pytest.mark.parametrize("decay", [0.0, 0.05])
def test_w_and_b_take_the_same_change_and_decay(decay):
    """One training sample: every W and its own B move by the same Δw, the delta rule's
    η/β_eff (ρ̂⁺ρ̂⁺ − ρ̂⁻ρ̂⁻); with decay λ each first shrinks: w ← (1 − λ) w + Δw."""
    spec = chip_spec(coupling="asymmetric", decay=decay)
    feedback = _feedback()
    net, weights, _, rates, seen = _monitored(spec, feedback, np.full(1, SAMPLE_TRAIN),
                                              ("rhohat",))
    change = _ep_change(spec, seen, rates, effective_beta(spec))
    result = RuntimeEngine._collect(net, 1)
    for k, (w, fb, dw) in enumerate(zip(weights, feedback, change)):
        assert np.abs(dw).max() > 1e-4
        np.testing.assert_allclose(result.weights[k], (1 - decay) * w + dw, rtol=0, atol=1e-12)
        if fb is not None:
            np.testing.assert_allclose(result.feedback[k], (1 - decay) * fb + dw, rtol=0,
                                       atol=1e-12)


def _one_rounded_sample(spec, bits, weight_range, seed=4):
    """One training sample of ``spec`` from weights on the levels of ``bits`` in
    ±``weight_range``: (those weights, the rule's change Δw from the monitored sent
    values, the weights after the sample)."""
    weights, biases = _parameters(seed)
    weights = [quantize(w, bits, weight_range) for w in weights]
    rates, targets = _inputs(1, seed + 1)
    net = build_network(spec, 1, rates=rates, targets=targets, weights=weights, biases=biases)
    RuntimeEngine(spec, 1).set_run_parameters(net)
    monitors = [b2.StateMonitor(net.layers[k], "rhohat", record=True, when="end")
                for k in (1, 2, 3)]
    net.network.add(*monitors)
    net.network.run(net.duration_steps * b2.ms, namespace={})
    seen = [{"rhohat": np.asarray(m.rhohat).T} for m in monitors]
    change = _ep_change(spec, seen, rates, effective_beta(spec))
    return weights, change, RuntimeEngine._collect(net, 1)


def test_weights_of_few_bits_round_every_update_to_their_levels():
    """8 bits in ±0.6 (δ = 0.6/127): deterministic rounding gives δ⌊(w + Δw)/δ + ½⌋ of the
    rule's change (the initial weights already on the levels); every weight stays a level
    in [−R, R]."""
    spec = chip_spec(weight_bits=8, weight_range=[0.6])
    step = 0.6 / 127
    assert level_step(8, 0.6) == pytest.approx(step)
    weights, change, result = _one_rounded_sample(spec, 8, 0.6)
    moved = 0
    for w, dw, new in zip(weights, change, result.weights):
        expected = step * np.floor(np.clip(w + dw, -0.6, 0.6) / step + 0.5)
        np.testing.assert_allclose(new, expected, rtol=0, atol=1e-12)
        levels = new / step
        np.testing.assert_allclose(levels, np.round(levels), atol=1e-9)
        assert np.abs(new).max() <= 0.6 + 1e-12
        moved += int(np.count_nonzero(new != w))
    assert moved > 0


def test_the_spiking_engine_rounds_stochastically_what_deterministic_rounding_loses():
    """5 bits in ±0.6 (δ = 0.6/15): the rule's changes are below δ/2, so deterministic
    rounding keeps every weight; stochastic rounding, δ⌊(w + Δw)/δ + u⌋ from a level w,
    moves a weight by one level in Δw's direction with probability |Δw|/δ, so the number of
    weights that move is Σ|Δw|/δ on average (binomial spread), and none moves further."""
    step = 0.6 / 15
    weights, change, kept = _one_rounded_sample(
        chip_spec(weight_bits=5, weight_range=[0.6]), 5, 0.6)
    assert max(np.abs(dw).max() for dw in change) < step / 2
    for w, new in zip(weights, kept.weights):
        np.testing.assert_array_equal(new, w)
    _, _, drawn = _one_rounded_sample(
        chip_spec(weight_bits=5, weight_range=[0.6], rounding="stochastic"), 5, 0.6)
    p = np.concatenate([np.abs(dw).ravel() / step for dw in change])
    steps = np.concatenate([((new - w) / step).ravel()
                            for w, new in zip(weights, drawn.weights)])
    direction = np.sign(np.concatenate([dw.ravel() for dw in change]))
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-9)
    assert set(np.round(steps[steps != 0] * direction[steps != 0]).astype(int)) <= {1}
    expected, spread = p.sum(), np.sqrt((p * (1 - p)).sum())
    assert expected > 15 and expected > 4 * spread           # none moving would fail
    assert abs(np.count_nonzero(steps) - expected) < 3.5 * spread


def test_stochastic_rounding_is_unbiased_and_deterministic_rounding_is_nearest():
    """quantize: deterministic to the nearest level; stochastic to one of the two levels
    around the value, the upper with the probability of its distance below (so that the
    mean over many draws is the value); 2 bits: the three levels −R, 0, R."""
    rng = np.random.default_rng(0)
    v = rng.uniform(-1.2, 1.2, 20000)
    near = quantize(v, 3, 1.0)
    assert set(np.round(np.unique(near) * 3).astype(int)) <= set(range(-3, 4))
    np.testing.assert_allclose(near, np.clip(np.round(v * 3), -3, 3) / 3, atol=1e-12)
    draws = np.mean([quantize(v, 3, 1.0, "stochastic", rng) for _ in range(200)], axis=0)
    inside = np.abs(v) < 1.0
    assert np.abs(draws[inside] - v[inside]).max() < 0.05
    np.testing.assert_array_equal(np.unique(quantize(v, 2, 0.5)), [-0.5, 0.0, 0.5])


def test_update_noise_and_device_gains_follow_their_equations():
    """apply_update (the rate reference's, and the equation the spiking code writes out):
    the change times the weight's gain and times 1 + σ_c ξ, after the decay; with one
    seed the same draws, with another not."""
    from eqspike.spec import SynapsesSection

    sy = SynapsesSection(decay=0.1, update_noise=0.5)
    w, dw, gain = np.full(50000, 0.2), np.full(50000, 0.01), np.full(50000, 1.5)
    new = apply_update(w, dw, sy, gain, np.random.default_rng(3))
    xi = ((new - 0.9 * w) / (gain * dw) - 1.0) / 0.5
    assert abs(xi.mean()) < 0.02 and abs(xi.std() - 1.0) < 0.02
    np.testing.assert_array_equal(new, apply_update(w, dw, sy, gain, np.random.default_rng(3)))
    assert not np.array_equal(new, apply_update(w, dw, sy, gain, np.random.default_rng(4)))


def test_the_spiking_engine_applies_the_device_gains_and_the_noise():
    """Device gains: each weight moves by its gain g times the rule's change (the gains
    handed to the engine); cycle-to-cycle noise: the change divided by Δw is 1 + σ_c ξ,
    ξ of mean 0 and spread 1 over the weights, and one seed gives the same weights."""
    spec = chip_spec(device_noise=0.3)
    weights, _ = _parameters(4)
    gains = {f"W_{a}_{b}": 1.0 + 0.3 * np.random.default_rng(k).standard_normal(w.shape)
             for k, ((a, b, _), w) in enumerate(zip(EDGES, weights))}
    plain, _ = _chunk(chip_spec(), n=1)
    noisy, _ = _chunk(spec, n=1, gains=gains)
    for (a, b, _), w, p, q in zip(EDGES, weights, plain.weights, noisy.weights):
        np.testing.assert_allclose(q - w, gains[f"W_{a}_{b}"] * (p - w), rtol=1e-9,
                                   atol=1e-14)
    spec = chip_spec(update_noise=0.4)
    first, _ = _chunk(spec, n=1)
    again, _ = _chunk(spec, n=1)
    ratios = np.concatenate([((q - w) / (p - w)).ravel()[np.abs((p - w).ravel()) > 1e-6]
                             for w, p, q in zip(weights, plain.weights, first.weights)])
    xi = (ratios - 1.0) / 0.4
    assert len(xi) > 100 and abs(xi.mean()) < 0.2 and abs(xi.std() - 1.0) < 0.2
    for a, b in zip(first.weights, again.weights):
        np.testing.assert_array_equal(a, b)


def test_a_chip_synapse_refuses_what_it_would_ignore():
    base = chip_spec()
    with pytest.raises(SpecError, match="weight_range applies to weights of few bits"):
        base.replace(synapses={"weight_range": [0.5]})
    with pytest.raises(SpecError, match="feedback_init applies to coupling"):
        base.replace(synapses={"feedback_init": "transpose"})
    with pytest.raises(SpecError, match="set it"):
        base.replace(spiking={"feedback": "shared"}, synapses={"coupling": "asymmetric"})
    with pytest.raises(SpecError, match="needs 2 bits or more"):
        base.replace(synapses={"weight_bits": 1})


@pytest.mark.standalone
def test_a_chip_build_compiled_equals_runtime(build_cache):
    """One-way couplings, 5 bits with deterministic rounding and a decay: the compiled
    build gives the runtime mode's W, B, biases and readouts."""
    spec = chip_spec(coupling="asymmetric", decay=0.02, weight_bits=5, weight_range=[0.8])
    weights, _ = _parameters(4)
    feedback = [None] + [quantize(b, 5, 0.8) for b in _feedback()[1:]]
    kinds = np.array([SAMPLE_TRAIN, SAMPLE_TRAIN, SAMPLE_EVAL])
    runtime, _ = _chunk(spec, kinds=kinds, feedback=feedback)
    compiled, _ = _chunk(spec, kinds=kinds, feedback=feedback, mode="standalone",
                         cache=build_cache)
    for a, b in zip(runtime.weights + runtime.biases + runtime.feedback[1:],
                    compiled.weights + compiled.biases + compiled.feedback[1:]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(runtime.readout, compiled.readout, rtol=1e-12)


# -- the rate reference ----------------------------------------------------------------

def _rate_spec(**synapses):
    edges = "[{pre = 0, post = 1}, {pre = 1, post = 2}, {pre = 2, post = 3}, {pre = 1, post = 3}]"
    spec = spec_from_toml(f"""
[network]
layers = [7, 6, 5, 3]
edges = {edges}
path = "rate"
activation = "hard_sigmoid"
[phases]
free_steps = 14
nudge_steps = 6
beta = 0.5
[learning]
rates = [0.05, 0.04, 0.06, 0.03]
[reference]
batch_size = 4
leak = 0.5
""", name="chip-rate")
    return spec.replace(synapses=synapses) if synapses else spec


def test_the_rate_reference_feeds_each_lower_layer_through_b():
    """D_l = Σ A(W) s_pre + Σ A(B)ᵀ s_post + b_l: the drives written out with B."""
    from eqspike.reference.network import HopfieldNetwork, init_params

    spec = _rate_spec(coupling="asymmetric")
    params = init_params(spec, 2)
    assert set(k for k in params if k.startswith("B_")) == {"B_1_2", "B_2_3", "B_1_3"}
    assert not np.allclose(params["B_1_2"], params["W_1_2"])
    net = HopfieldNetwork(spec, params)
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (2, 7))
    s = [rng.uniform(0, 1, (2, n)) for n in (6, 5, 3)]
    got = net.drives(x, s)
    p = params
    want = [x @ p["W_0_1"] + s[1] @ p["B_1_2"].T + s[2] @ p["B_1_3"].T + p["b_1"],
            s[0] @ p["W_1_2"] + s[2] @ p["B_2_3"].T + p["b_2"],
            s[1] @ p["W_2_3"] + s[0] @ p["W_1_3"] + p["b_3"]]
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_rate_bptt_through_one_way_couplings_is_exact():
    """BPTT of the vector field (W up, B down) against central finite differences of the
    loss after the free phase, for a W and a B of a skip coupling."""
    from eqspike.reference.learning import bptt
    from eqspike.reference.network import HopfieldNetwork, init_params

    spec = _rate_spec(coupling="asymmetric").replace(network={"activation": "sigmoid"})
    net = HopfieldNetwork(spec, init_params(spec, 3))
    rng = np.random.default_rng(4)
    x, y = rng.uniform(0, 1, (3, 7)), np.eye(3)[[0, 2, 1]]
    grads, _ = bptt(net, x, y, 10)

    def loss():
        return net.loss(net.relax(x, net.zero_states(3), 10), y).mean()

    for name, index in (("W_1_3", (2, 1)), ("B_1_3", (4, 2)), ("B_1_2", (0, 3))):
        keep = net.params[name][index]
        net.params[name][index] = keep + 1e-6
        up = loss()
        net.params[name][index] = keep - 1e-6
        down = loss()
        net.params[name][index] = keep
        assert grads[name][index] == pytest.approx((up - down) / 2e-6, rel=1e-6, abs=1e-12)


def test_rate_training_with_b_equal_to_w_is_the_symmetric_network():
    """The rate reference's SGD step with B = W and the ideal synapse: W moves as the
    symmetric network's, and B by the same change."""
    from eqspike.reference.learning import learning_rates, make_optimizer, train_batch
    from eqspike.reference.network import HopfieldNetwork, init_params

    rng = np.random.default_rng(5)
    x, y = rng.uniform(0, 1, (4, 7)), np.eye(3)[[0, 1, 2, 0]]
    out = []
    for spec in (_rate_spec(), _rate_spec(coupling="asymmetric", feedback_init="transpose")):
        net = HopfieldNetwork(spec, init_params(spec, 6))
        optimizer = make_optimizer(spec)
        for _ in range(3):
            train_batch(net, optimizer, x, y, spec, learning_rates(net, spec), rng)
        out.append(net.params)
    for name, value in out[0].items():
        np.testing.assert_array_equal(out[1][name], value)
        if name.startswith("W_") and name != "W_0_1":
            np.testing.assert_array_equal(out[1]["B" + name[1:]], value)
