"""The delta code (graded events that carry changes) and its rule, on a tiny graph with a
graded input's conv edge, a pooled conv edge between spiking layers, a dense edge and a
dense skip coupling.

Each test writes its expected values from the equations (eqspike.spiking's delta code,
eqspike.rules' *Rule delta*) with the rate reference's edges (ConvEdge, DenseEdge: the
products and gradients checked against the taps and finite differences elsewhere), never
from the engine's own accessors: with θ = 0 the network is its rate twin, step for step;
with θ > 0 every neuron's sent value stays within θ of its rate and the input it receives
is the edges' products of the sent values; the weights move by (η/β_eff)(ρ̂⁺ρ̂⁺ − ρ̂⁻ρ̂⁻)
of the monitored sent values.
"""

from __future__ import annotations

import brian2 as b2
import numpy as np
import pytest

from eqspike.engine import RuntimeEngine, StandaloneEngine
from eqspike.reference.edges import ConvEdge, DenseEdge
from eqspike.reference.network import spiking_twin
from eqspike.rules import effective_beta
from eqspike.schedule import SAMPLE_EVAL, SAMPLE_TRAIN, phase_signals
from eqspike.spec import SpecError, spec_from_toml
from eqspike.spiking import build_network

#: input (1, 6, 6) -conv 3x3, padding 1-> (2, 6, 6) -conv 3x3, pool 2-> (2, 2, 2) -dense-> 3,
#: and a dense skip coupling 1 -> 3
SHAPES = [(1, 6, 6), (2, 6, 6), (2, 2, 2), (3,)]
EDGES = [(0, 1, dict(kernel=3, stride=1, padding=1, pool=1)),
         (1, 2, dict(kernel=3, stride=1, padding=0, pool=2)), (2, 3, None), (1, 3, None)]
RATES = [0.05, 0.04, 0.06, 0.03]


def delta_spec(nudging="symmetric", feedback="shared", theta=0.0, theta_nudged=None,
               flush=True, beta=1.0):
    theta_nudged = theta if theta_nudged is None else theta_nudged
    return spec_from_toml(f"""
[network]
layers = {[int(np.prod(s)) for s in SHAPES]}
shapes = {[list(s) for s in SHAPES]}
edges = [{{pre = 0, post = 1, kind = "conv", kernel = 3, padding = 1}},
         {{pre = 1, post = 2, kind = "conv", kernel = 3, pool = 2}},
         {{pre = 2, post = 3}}, {{pre = 1, post = 3}}]
[spiking]
code = "delta"
input_code = "graded"
feedback = "{feedback}"
delta_theta = {theta}
delta_theta_nudged = {theta_nudged}
delta_flush = {str(flush).lower()}
readout_steps = 6
[phases]
free_steps = 14
nudge_steps = 7
nudging = "{nudging}"
beta = {beta}
[learning]
rule = "delta"
rates = {RATES}
bias_rates = [0.05, 0.02, 0.04]
""", name="delta")


def _edges():
    return [ConvEdge(SHAPES[a], SHAPES[b], **conv) if conv else DenseEdge(SHAPES[a], SHAPES[b])
            for a, b, conv in EDGES]


def _parameters(seed=3):
    rng = np.random.default_rng(seed)
    weights = [rng.uniform(-1.0, 1.2, e.weight_shape) / np.sqrt(e.fan_in) for e in _edges()]
    biases = [rng.uniform(0.0, 0.2, int(np.prod(s))) for s in SHAPES[1:]]
    return weights, biases


def _inputs(n, seed=4):
    rng = np.random.default_rng(seed)
    rates = rng.uniform(0, 1, (n, 36)) * (rng.uniform(0, 1, (n, 36)) > 0.25)
    return rates, np.eye(3)[rng.integers(0, 3, n)]


def _simulate(spec, rates, targets, weights, biases, kinds=None, variables=("u", "rhohat"),
              layers=(1, 2, 3)):
    """One training sample (or ``kinds``) in runtime mode, with ``variables`` of the
    ``layers`` monitored after every step (when = "end")."""
    net = build_network(spec, len(rates), rates=rates, targets=targets, kinds=kinds,
                        weights=weights, biases=biases)
    RuntimeEngine(spec, len(rates)).set_run_parameters(net)
    monitors = [b2.StateMonitor(net.layers[k], list(variables), record=True, when="end")
                for k in layers]
    net.network.add(*monitors)
    net.network.run(net.duration_steps * spec.spiking.dt_ms * b2.ms, namespace={})
    return net, [{v: np.asarray(getattr(m, v)).T for v in variables} for m in monitors]


def twin_free_phase(twin, spec, x) -> list:
    """The rate twin's states after each of the T1 free steps; the first step sees no
    input drive (the graded input's events arrive with it)."""
    states = twin.step(np.zeros_like(x), twin.zero_states(1))
    after = [states]
    for _ in range(spec.phases.free_steps - 1):
        states = twin.step(x, states)
        after.append(states)
    return after


def twin_states(spec, weights, biases, x, y):
    """The rate twin's states u (one list of (1, n) arrays per step) after each step of a
    training sample: the free phase, then the nudged phase(s) (symmetric: −β, then +β from
    the free state). The graded input arrives with the first step's events, so the first
    step sees no input drive (as a spike sent at one step is received at the next)."""
    twin = spiking_twin(spec, weights, biases)
    t2, beta = spec.phases.nudge_steps, spec.phases.beta
    after = twin_free_phase(twin, spec, x)
    free = after[-1]
    for sign in ((-1.0, 1.0) if spec.nudged_phases == 2 else (1.0,)):
        states = free
        for _ in range(t2):
            states = twin.step(x, states, sign * beta, y)
            after.append(states)
    return after


@pytest.mark.parametrize("nudging, feedback", [("symmetric", "shared"), ("symmetric", "copy"),
                                               ("one_sided", "copy")])
def test_with_theta_zero_the_network_is_its_rate_twin_step_for_step(nudging, feedback):
    """θ = 0: every change is sent, so every neuron's u after every step of the free and
    the nudged phases equals the rate twin's (the graph's edges, hard sigmoid, leak
    1/tau_u) to 1e-12, and ρ̂ = ρ(u)."""
    spec = delta_spec(nudging, feedback)
    weights, biases = _parameters()
    rates, targets = _inputs(1)
    _, seen = _simulate(spec, rates, targets, weights, biases)
    expected = twin_states(spec, weights, biases, rates, targets)
    assert len(expected) == spec.steps_per_sample
    for layer, got in enumerate(seen):
        u = got["u"][:spec.steps_per_sample]
        want = np.array([states[layer][0] for states in expected])
        assert np.abs(want).max() > 0.1 and np.ptp(want[-1] - want[spec.phases.free_steps - 1]) > 0
        np.testing.assert_allclose(u, want, rtol=0, atol=1e-12)
        np.testing.assert_allclose(got["rhohat"][:spec.steps_per_sample],
                                   np.clip(want, 0, 1), rtol=0, atol=1e-12)


def _thresholds(spec, n=1):
    return phase_signals(spec, np.full(n, SAMPLE_TRAIN))["theta"]


@pytest.mark.parametrize("flush", [True, False])
def test_with_theta_above_zero_every_sent_value_stays_within_theta(flush):
    """θ > 0 (a finer θ in the nudged phases): after every step |ρ(u) − ρ̂| < θ(t) for
    every neuron, and at the last step of every phase (with delta_flush) ρ̂ = ρ(u); the
    network sends fewer events than at θ = 0 and its states differ from the twin's."""
    spec = delta_spec(theta=0.08, theta_nudged=0.02, flush=flush)
    weights, biases = _parameters(5)
    rates, targets = _inputs(1, 6)
    _, seen = _simulate(spec, rates, targets, weights, biases)
    steps = spec.steps_per_sample
    theta = _thresholds(spec)[:steps]
    last = [13, 20, 27]                       # the phases' last steps (T1 = 14, T2 = 7)
    assert np.all(theta[last] == (0.0 if flush else [0.08, 0.02, 0.02]))
    residuals = []
    for got in seen:
        gap = np.abs(np.clip(got["u"], 0, 1) - got["rhohat"])[:steps]
        limit = np.where(theta[:, None] > 0, theta[:, None], 1e-15)
        assert np.all(gap < limit)
        residuals.append(gap.max())
    assert max(residuals) > 0.01                        # the threshold is what holds it
    twin = twin_states(spec, weights, biases, rates, targets)
    assert np.abs(seen[0]["u"][steps - 1] - twin[-1][0][0]).max() > 1e-6


def _held_input(spec, rhohat, rates, weights):
    """Σ w ρ̂ into each non-input layer from the edges' products of the sent values ρ̂
    ((steps, n) per layer), the graded input's drive counted apart (Ix)."""
    edges = _edges()
    layers = [None] + list(rhohat)
    into = [0.0 for _ in SHAPES[1:]]
    for (a, b, _), edge, w in zip(EDGES, edges, weights):
        if a > 0:
            into[b - 1] = into[b - 1] + edge.forward(w, layers[a])
            into[a - 1] = into[a - 1] + edge.backward(w, layers[b])
    return into


@pytest.mark.parametrize("feedback", ["shared", "copy"])
def test_each_neuron_receives_the_edges_products_of_the_sent_values(feedback):
    """The input I each neuron holds after every step (events add w q, nothing clears it)
    equals Σ_edges A(W) ρ̂ of the monitored sent values, through the conv taps (pooling
    factor included), the dense edge and the skip coupling, both directions, in evaluation
    and in training samples; the graded
    input's drive Ix is ConvEdge's forward product of the pixel values, from the first
    step's event on."""
    spec = delta_spec(feedback=feedback, theta=0.06, theta_nudged=0.03)
    weights, biases = _parameters(7)
    rates, targets = _inputs(1, 8)
    _, seen = _simulate(spec, rates, targets, weights, biases, kinds=np.full(1, SAMPLE_EVAL),
                        variables=("u", "rhohat", "I"))
    steps = spec.steps_per_sample
    expected = _held_input(spec, [got["rhohat"][:steps] for got in seen], rates, weights)
    for got, want in zip(seen, expected):
        assert np.abs(want).max() > 0.05
        np.testing.assert_allclose(got["I"][:steps], want, rtol=0, atol=1e-12)
    # a training sample (quiet and learning events, the restore of the free state)
    _, train = _simulate(spec, rates, targets, weights, biases,
                         variables=("u", "rhohat", "I"))
    expected = _held_input(spec, [got["rhohat"][:steps] for got in train], rates, weights)
    for got, want in zip(train, expected):
        np.testing.assert_allclose(got["I"][:steps], want, rtol=0, atol=1e-12)
    net, held = _simulate(spec, rates, targets, weights, biases, kinds=np.full(1, SAMPLE_EVAL),
                          variables=("Ix",), layers=(1,))
    drive = _edges()[0].forward(weights[0], rates)[0]
    np.testing.assert_allclose(held[0]["Ix"][:steps], np.tile(drive, (steps, 1)), rtol=1e-12)


@pytest.mark.parametrize("nudging, theta, flush", [("symmetric", 0.05, False),
                                                   ("symmetric", 0.05, True),
                                                   ("one_sided", 0.04, False)])
def test_the_rule_holds_the_ep_difference_of_the_sent_values(nudging, theta, flush):
    """Over one training sample every weight moves by lr_w (ρ̂_i⁺ρ̂_j⁺ − ρ̂_i⁻ρ̂_j⁻), lr_w =
    η/β_eff, with ρ̂ the monitored sent values at the end of the +β phase and of the −β
    phase (one-sided: of the free phase): a conv kernel entry by the sum over its taps
    (ConvEdge.grad of the two states' difference), the graded input's kernel by r_j
    (ρ̂_i⁺ − ρ̂_i⁻) per tap, the dense edge and the skip coupling per pair; every bias by
    lr_b (ρ̂_i⁺ − ρ̂_i⁻). To 1e-12, whatever θ and the flush."""
    spec = delta_spec(nudging, "copy", theta=theta, theta_nudged=theta / 10, flush=flush,
                      beta=0.7)
    weights, biases = _parameters(9)
    rates, targets = _inputs(1, 10)
    net, seen = _simulate(spec, rates, targets, weights, biases)
    t1, t2 = spec.phases.free_steps, spec.phases.nudge_steps
    minus_step = t1 + t2 - 1 if nudging == "symmetric" else t1 - 1
    plus_step = spec.steps_per_sample - 1
    plus = [got["rhohat"][plus_step][None, :] for got in seen]
    minus = [got["rhohat"][minus_step][None, :] for got in seen]
    beta_eff = effective_beta(spec)
    assert beta_eff == (1.4 if nudging == "symmetric" else 0.7)
    layers_plus, layers_minus = [rates] + plus, [rates] + minus
    for k, ((a, b, _), edge) in enumerate(zip(EDGES, _edges())):
        difference = edge.grad(layers_plus[a], layers_plus[b]) - edge.grad(layers_minus[a],
                                                                           layers_minus[b])
        expected = weights[k] + RATES[k] / beta_eff * difference
        got = np.asarray(net.weights[k].w[:]).reshape(weights[k].shape)
        assert np.abs(difference).max() > 1e-4
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12, err_msg=f"W_{a}_{b}")
    for layer, (rate, before) in enumerate(zip([0.05, 0.02, 0.04], biases)):
        expected = before + rate / beta_eff * (plus[layer][0] - minus[layer][0])
        np.testing.assert_allclose(np.asarray(net.layers[layer + 1].b[:]), expected,
                                   rtol=0, atol=1e-12)


def test_evaluation_and_learning_windows_send_nothing_when_nothing_changes():
    """An evaluation sample moves no weight; a neuron whose rate stays at 0 sends no event;
    the output's readout sums its sent values over the readout window (the class is the
    largest)."""
    spec = delta_spec(theta=0.05)
    weights, biases = _parameters(11)
    rates, targets = _inputs(2, 12)
    net, seen = _simulate(spec, rates, targets, weights, biases, kinds=np.full(2, SAMPLE_EVAL))
    for k, w in enumerate(weights):
        np.testing.assert_array_equal(np.asarray(net.weights[k].w[:]).reshape(w.shape), w)
    sample, readout = spec.steps_per_sample, spec.spiking.readout_steps
    t1 = spec.phases.free_steps
    out = seen[-1]["rhohat"]
    counts = np.asarray(net.readout_monitor.count)[:, 1:3].T
    for s in range(2):
        window = out[s * sample + t1 - readout:s * sample + t1]
        np.testing.assert_allclose(counts[s], window.sum(axis=0), rtol=1e-12)


def test_the_delta_code_is_refused_where_it_cannot_run():
    """The delta code needs its rule and a graded input; its fields are refused under
    another code (they would be ignored)."""
    base = delta_spec()
    with pytest.raises(SpecError, match="rule = .eqspike. cannot read"):
        base.replace(learning={"rule": "eqspike"})
    with pytest.raises(SpecError, match="needs input_code"):
        base.replace(spiking={"input_code": "rate"})
    with pytest.raises(SpecError, match="rule = \"delta\" reads"):
        base.replace(spiking={"code": "sigma_delta"})
    with pytest.raises(SpecError, match="delta_theta applies to code"):
        base.replace(spiking={"code": "sigma_delta", "delta_theta": 0.5},
                     learning={"rule": "eqspike"})


@pytest.mark.standalone
def test_delta_standalone_equals_runtime(build_cache):
    """The compiled build (θ through the per-step signal, 2 OpenMP threads) gives the
    runtime mode's weights, biases, readouts and event counts over a chunk of training
    samples and an evaluation sample."""
    spec = delta_spec("symmetric", "copy", theta=0.05, theta_nudged=0.02)
    weights, biases = _parameters(13)
    rates, targets = _inputs(5, 14)
    runtime = standalone_equals_runtime(spec, rates, targets, weights, biases, build_cache)
    for before, after in zip(weights, runtime.weights):
        assert not np.allclose(after, before)
    assert runtime.events.sum() > 0


def standalone_equals_runtime(spec, rates, targets, weights, biases, build_cache):
    """Run the samples (all training but the last, an evaluation) in runtime mode and in
    a compiled build with 2 OpenMP threads; assert the same weights, biases, readouts (to
    1e-12) and event counts; return the runtime result."""
    n = len(rates)
    args = (rates, targets, np.r_[np.full(n - 1, SAMPLE_TRAIN), [SAMPLE_EVAL]], weights,
            biases)
    runtime = RuntimeEngine(spec, n).run_chunk(*args)
    compiled = StandaloneEngine(spec, n, cache_dir=build_cache, threads=2).run_chunk(*args)
    for x, y in zip(runtime.weights + runtime.biases, compiled.weights + compiled.biases):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(runtime.readout, compiled.readout, rtol=1e-12)
    np.testing.assert_array_equal(runtime.events, compiled.events)
    return runtime
