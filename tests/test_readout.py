"""The spiking cross-entropy read-out (``[spiking] loss = "cross_entropy"``), on a tiny
dense graph 36 -> 8 -> 6 -> 3 with the delta code at θ = 0.

Expected values come from the rate reference (:class:`eqspike.reference.network.
HopfieldNetwork`: its drives, its cross-entropy nudge β (y − o) W_outᵀ, its relaxation and
:func:`eqspike.reference.learning.ep_gradients`) and from the equations of
:data:`eqspike.spiking.READOUT_STATE`, never from the engine's accessors: the spiking
network is the rate reference with the nudge one step late, step for step; it reaches the
rate reference's nudged fixed points; the hidden weights move by the rate reference's
symmetric EP update and the read-out by η ½ [ρ⁺ (y − o⁺) + ρ⁻ (y − o⁻)].
"""

from __future__ import annotations

import numpy as np
import pytest

from eqspike.reference.learning import ep_gradients
from eqspike.reference.network import spiking_twin
from eqspike.rules import effective_beta
from eqspike.schedule import SAMPLE_EVAL
from eqspike.spec import SpecError, spec_from_toml
from tests.test_delta import _simulate, standalone_equals_runtime, twin_free_phase

LAYERS = [36, 8, 6, 3]
RATES = [0.05, 0.04, 0.03]
BIAS_RATES = [0.02, 0.03, 0.06]


def readout_spec(free=40, nudged=40, beta=0.5, nudging="symmetric", theta=0.0,
                 feedback="copy"):
    return spec_from_toml(f"""
[network]
layers = {LAYERS}
[spiking]
code = "delta"
input_code = "graded"
loss = "cross_entropy"
feedback = "{feedback}"
delta_theta = {theta}
delta_theta_nudged = {theta}
readout_steps = 5
[phases]
free_steps = {free}
nudge_steps = {nudged}
nudging = "{nudging}"
beta = {beta}
[learning]
rule = "delta"
rates = {RATES}
bias_rates = {BIAS_RATES}
""", name="readout")


def _parameters(seed=3):
    rng = np.random.default_rng(seed)
    weights = [rng.uniform(-1.0, 1.3, (a, b)) / np.sqrt(a) for a, b in zip(LAYERS, LAYERS[1:])]
    weights[-1] = weights[-1] * 4.0                      # logits of order 1
    biases = [rng.uniform(0.0, 0.3, n) for n in LAYERS[1:]]
    return weights, biases


def _inputs(n, seed=4):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, LAYERS[0])), np.eye(3)[rng.integers(0, 3, n)]


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def lagged_twin(spec, weights, biases, x, y):
    """The states u of the two hidden layers after every step of a training sample, from
    the rate reference's pieces and the read-out's equation: the free phase is the rate
    reference's (the graded input arrives with the first step's events), and in a nudged
    phase of sign σ the last hidden layer adds the read-out's nudge of the state one step
    earlier, u_{t+1} = D(ρ(u_t)) + σβ (y − o(ρ(u_{t−1}))) W_outᵀ (leak α on both), none
    at the phase's first step (the read-out sent nothing in the free phase, and the +β
    phase starts again from the free state)."""
    twin = spiking_twin(spec, weights, biases)
    t2, beta = spec.phases.nudge_steps, spec.phases.beta
    alpha = 1.0 / spec.spiking.tau_u
    after = twin_free_phase(twin, spec, x)
    free = after[-1]
    for sign in (-1.0, 1.0):
        earlier, states = None, free
        for _ in range(t2):
            drive = twin.drives(x, twin.rates(states))
            if earlier is not None:
                drive[-1] = drive[-1] + twin.nudge(earlier, sign * beta, y)
            earlier, states = states, [u + alpha * (d - u) for u, d in zip(states, drive)]
            after.append(states)
    return twin, after


def test_the_spiking_readout_is_the_rate_reference_with_the_nudge_one_step_late():
    """θ = 0: after every step of the free and both nudged phases, each hidden layer's u
    equals the lagged recursion of :func:`lagged_twin` to 1e-12; each read-out neuron's
    sent value is σβ (y − softmax(ρ̂ W_out + b_out)) of the last hidden layer's sent values
    one step earlier (0 in the free phase)."""
    spec = readout_spec(free=12, nudged=9)
    weights, biases = _parameters()
    rates, targets = _inputs(1)
    _, seen = _simulate(spec, rates, targets, weights, biases, layers=(1, 2))
    twin, expected = lagged_twin(spec, weights, biases, rates, targets)
    steps = spec.steps_per_sample
    assert len(expected) == steps
    for layer, got in enumerate(seen):
        want = np.array([states[layer][0] for states in expected])
        assert np.abs(want).max() > 0.1
        np.testing.assert_allclose(got["u"][:steps], want, rtol=0, atol=1e-12)
    _, out = _simulate(spec, rates, targets, weights, biases, variables=("rhohat",),
                       layers=(3,))
    sent = out[0]["rhohat"][:steps]
    t1, t2, beta = spec.phases.free_steps, spec.phases.nudge_steps, spec.phases.beta
    hidden = np.clip(seen[1]["u"][:steps], 0, 1)
    np.testing.assert_array_equal(sent[:t1], 0.0)
    for start, sign in ((t1, -1.0), (t1 + t2, 1.0)):
        for t in range(start, start + t2):
            before = hidden[t - 1] if t > start else hidden[t1 - 1]
            o = _softmax(before @ weights[-1] + biases[-1])
            np.testing.assert_allclose(sent[t], sign * beta * (targets[0] - o), atol=1e-12)
    assert np.abs(sent).max() > 0.05


def test_the_nudged_phases_reach_the_rate_references_fixed_points():
    """With phases long enough to settle, the last step of each nudged phase is the rate
    reference's own ±β relaxation (its un-lagged cross-entropy nudge), to 1e-9: the lag
    changes the path, not the fixed point."""
    spec = readout_spec(free=120, nudged=120)
    weights, biases = _parameters(5)
    rates, targets = _inputs(1, 6)
    _, seen = _simulate(spec, rates, targets, weights, biases, layers=(1, 2))
    twin = spiking_twin(spec, weights, biases)
    free = twin.relax(rates, twin.zero_states(1), 400)
    t1, t2, beta = spec.phases.free_steps, spec.phases.nudge_steps, spec.phases.beta
    for sign, last in ((-1.0, t1 + t2 - 1), (1.0, t1 + 2 * t2 - 1)):
        want = twin.relax(rates, free, 400, sign * beta, targets)
        for layer, got in enumerate(seen):
            np.testing.assert_allclose(got["u"][last], want[layer][0], rtol=0, atol=1e-9)
            assert np.abs(want[layer][0] - free[layer][0]).max() > 1e-3


@pytest.mark.parametrize("nudging", ["symmetric", "one_sided"])
def test_the_update_is_ep_with_the_cross_entropy_readout(nudging):
    """One training sample with settled phases: every hidden weight and bias moves by the
    rate reference's EP update (−η × :func:`ep_gradients`; symmetric or one-sided), and the
    read-out's weights and bias by EP's update of the read-out in Φ − β L:
    η/β_eff Σ_σ σ ρ̂^σ v̂^σ with v̂^σ = σβ (y − o^σ), i.e. η ½ [ρ⁺ (y − o⁺) + ρ⁻ (y − o⁻)]
    (one-sided: η ρ^β (y − o^β)), with the states of the rate reference's relaxations; to
    1e-9."""
    spec = readout_spec(free=120, nudged=120, nudging=nudging)
    weights, biases = _parameters(7)
    rates, targets = _inputs(1, 8)
    net, _ = _simulate(spec, rates, targets, weights, biases, layers=(1,))
    twin = spiking_twin(spec, weights, biases)
    estimator = "symmetric" if nudging == "symmetric" else "one_sided"
    grads, free = ep_gradients(twin, rates, targets, 400, 400, spec.phases.beta, estimator)
    for k, name in enumerate(["W_0_1", "W_1_2"]):
        got = np.asarray(net.weights[k].w[:]).reshape(weights[k].shape)
        assert np.abs(grads[name]).max() > 1e-4
        np.testing.assert_allclose(got, weights[k] - RATES[k] * grads[name], rtol=0, atol=1e-9)
        np.testing.assert_allclose(np.asarray(net.layers[k + 1].b[:]),
                                   biases[k] - BIAS_RATES[k] * grads[f"b_{k + 1}"],
                                   rtol=0, atol=1e-9)
    beta = spec.phases.beta
    signs = (-1.0, 1.0) if nudging == "symmetric" else (1.0,)
    dw, db = 0.0, 0.0
    for sign in signs:
        nudged = twin.relax(rates, free, 400, sign * beta, targets)
        rho = twin.rho(nudged[-1])
        sent = sign * beta * (targets - twin.output(nudged))
        dw, db = dw + sign * rho.T @ sent, db + sign * sent[0]
    beta_eff = effective_beta(spec)
    got = np.asarray(net.weights[2].w[:]).reshape(weights[2].shape)
    np.testing.assert_allclose(got, weights[2] + RATES[2] / beta_eff * dw, rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.asarray(net.layers[3].b[:]),
                               biases[2] + BIAS_RATES[2] / beta_eff * db, rtol=0, atol=1e-9)
    assert np.abs(dw).max() > 1e-3


def test_the_prediction_is_the_largest_summed_logit():
    """An evaluation sample moves nothing and sends nothing from the read-out; its readout
    is the logit z = ρ̂ W_out + b_out summed over the readout window."""
    spec = readout_spec(free=12, nudged=6, theta=0.05)
    weights, biases = _parameters(9)
    rates, targets = _inputs(2, 10)
    net, seen = _simulate(spec, rates, targets, weights, biases,
                          kinds=np.full(2, SAMPLE_EVAL), variables=("rhohat",), layers=(2, 3))
    for k, w in enumerate(weights):
        np.testing.assert_array_equal(np.asarray(net.weights[k].w[:]).reshape(w.shape), w)
    np.testing.assert_array_equal(seen[1]["rhohat"], 0.0)
    sample, window, t1 = spec.steps_per_sample, spec.spiking.readout_steps, 12
    counts = np.asarray(net.readout_monitor.count)[:, 1:3].T
    for s in range(2):
        # the logit at step t reads what the last hidden layer had sent before it
        sent = seen[0]["rhohat"][s * sample + t1 - window - 1:s * sample + t1 - 1]
        want = (sent @ weights[-1] + biases[-1]).sum(axis=0)
        assert np.ptp(want) > 0.05
        np.testing.assert_allclose(counts[s], want, rtol=1e-12)


def test_the_readout_is_refused_where_it_cannot_run():
    """Binary spikes cannot carry a signed error; the read-out's one edge is dense from
    the last hidden layer; one-way couplings are not built for it."""
    base = readout_spec()
    with pytest.raises(SpecError, match="needs code = .delta."):
        base.replace(spiking={"code": "sigma_delta", "input_code": "rate", "loss":
                              "cross_entropy", "delta_theta": 0.0625,
                              "delta_theta_nudged": 0.0625},
                     learning={"rule": "eqspike"})
    with pytest.raises(SpecError, match="only edge is dense"):
        spec_from_toml("""
[network]
layers = [36, 8, 6, 3]
edges = [{pre = 0, post = 1}, {pre = 1, post = 2}, {pre = 2, post = 3}, {pre = 1, post = 3}]
[spiking]
code = "delta"
input_code = "graded"
loss = "cross_entropy"
[learning]
rule = "delta"
rates = [0.1, 0.1, 0.1, 0.1]
bias_rates = [0.1, 0.1, 0.1]
""", name="skip")
    with pytest.raises(SpecError, match="symmetric couplings"):
        base.replace(synapses={"coupling": "asymmetric"})


@pytest.mark.standalone
def test_readout_standalone_equals_runtime(build_cache):
    """The compiled build (the normaliser's summed variable and linked ``Z``, 2 OpenMP
    threads) gives the runtime mode's weights, biases, readouts and event counts over a
    chunk."""
    spec = readout_spec(free=12, nudged=6, theta=0.02)
    weights, biases = _parameters(11)
    rates, targets = _inputs(4, 12)
    runtime = standalone_equals_runtime(spec, rates, targets, weights, biases, build_cache)
    assert not np.allclose(runtime.weights[-1], weights[-1])
