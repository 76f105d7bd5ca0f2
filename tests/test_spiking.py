"""The spiking network and the EqSpike rule, on tiny networks in Brian2's runtime mode."""

from __future__ import annotations

import brian2 as b2
import numpy as np
import pytest

from eqspike import rules
from eqspike.engine import RuntimeEngine
from eqspike.schedule import SAMPLE_EVAL, SAMPLE_TRAIN, phase_signals
from eqspike.spiking import build_network

from .conftest import small_spec


def _run(net, spec):
    net.network.run(net.duration_steps * spec.spiking.dt_ms * b2.ms, namespace={})


def _set_rates(net, engine):
    engine.set_run_parameters(net)


def test_one_synapses_object_per_layer_pair_feeds_both_directions():
    """Output neurons firing every step feed the hidden layer through the SAME weights.

    Input silent, hidden biases 0, output biases 1 and W2 >= 0: each output neuron spikes at
    every step (ρ = 1), so each hidden neuron's u converges to Σ_k W2[j, k] (feedback via
    ``on_post``) while each output neuron's u converges to 1 + Σ_j W2[j, k] ρ_j (via
    ``on_pre``) -- with the one weight matrix W2.
    """
    spec = small_spec(layers=(2, 3, 2), free=40, nudge=2, readout=2)
    w2 = np.array([[0.1, 0.2], [0.05, 0.3], [0.4, 0.0]])
    weights = [np.zeros((2, 3)), w2]
    biases = [np.zeros(3), np.ones(2)]
    net = build_network(spec, 1, kinds=np.array([SAMPLE_EVAL]), weights=weights, biases=biases)
    assert len(net.synapses) == 2
    layer_names = {g.name for g in net.layers}
    couplings = {o.name for o in net.network.objects if isinstance(o, b2.Synapses)
                 and o.source.name in layer_names and o.target.name in layer_names}
    assert couplings == {s.name for s in net.synapses} == {"w0_1", "w1_2"}
    mon = b2.StateMonitor(net.layers[1], "u", record=True, when="end")
    mon_out = b2.StateMonitor(net.layers[2], "u", record=True, when="end")
    spikes = b2.SpikeMonitor(net.layers[1])
    net.network.add(mon, mon_out, spikes)
    _run(net, spec)
    step = spec.phases.free_steps - 1
    hidden_u = mon.u[:, step]
    np.testing.assert_allclose(hidden_u, w2.sum(axis=1), rtol=1e-6)
    rho = np.clip(hidden_u, 0, 1)
    # hidden spike rates are quantised by the sigma-delta code: compare with rates counted
    counts = np.bincount(spikes.i[spikes.t < spec.phases.free_steps * b2.ms], minlength=3)
    rates = counts / spec.phases.free_steps
    np.testing.assert_allclose(rates, rho, atol=2.5 / spec.phases.free_steps)
    np.testing.assert_allclose(mon_out.u[:, step], 1 + w2.T @ rates, atol=0.1)


def test_no_weight_change_during_free_phase_or_evaluation():
    spec = small_spec()
    rng = np.random.default_rng(3)
    weights = [rng.uniform(-1, 1, (3, 4)), rng.uniform(-1, 1, (4, 2))]
    biases = [rng.uniform(0, 0.5, 4), rng.uniform(0, 0.5, 2)]
    rates = rng.uniform(0.2, 1, (2, 3))
    targets = np.eye(2)
    engine = RuntimeEngine(spec, 4)

    # evaluation: nothing moves
    result = engine.run_chunk(rates, targets, np.full(2, SAMPLE_EVAL), weights, biases)
    for before, after in zip(weights + biases, result.weights + result.biases):
        np.testing.assert_array_equal(before, after)

    # training: w is constant through each sample, changing only at its boundary
    net = build_network(spec, 2, rates=rates, targets=targets, weights=weights, biases=biases)
    _set_rates(net, engine)
    mon = b2.StateMonitor(net.synapses[1], "w", record=True, when="end")
    net.network.add(mon)
    _run(net, spec)
    s = spec.steps_per_sample
    first_sample = mon.w[:, :s]
    np.testing.assert_array_equal(first_sample, first_sample[:, :1].repeat(s, axis=1))
    assert np.any(mon.w[:, s] != mon.w[:, s - 1]), "the rule applied no update at all"


def _window_rates(spikes, n, lo, hi):
    t = np.asarray(spikes.t / b2.ms).round().astype(int)
    keep = (t >= lo) & (t < hi)
    return np.bincount(spikes.i[keep], minlength=n) / (hi - lo)


@pytest.mark.parametrize("layer_pair", [0, 1])
def test_weight_change_equals_rule_summed_over_spikes(layer_pair):
    """Δw over one sample equals lr_w Σ σ(t) x_other(t) over the recorded pre and post spikes."""
    spec = small_spec(layers=(3, 4, 2), free=16, nudge=8, readout=8)
    rng = np.random.default_rng(7)
    weights = [rng.uniform(-0.5, 1, (3, 4)), rng.uniform(-0.5, 1, (4, 2))]
    biases = [rng.uniform(0, 0.3, 4), rng.uniform(0, 0.3, 2)]
    rates = rng.uniform(0.2, 1, (1, 3))
    net = build_network(spec, 1, rates=rates, targets=np.eye(2)[[0]], weights=weights,
                        biases=biases)
    engine = RuntimeEngine(spec, 1)
    _set_rates(net, engine)
    lower, upper = net.layers[layer_pair], net.layers[layer_pair + 1]
    # the traces as the synapses read them: after the step's decay, before the spike's jump
    x_lo = b2.StateMonitor(lower, "x", record=True, when="thresholds")
    x_up = b2.StateMonitor(upper, "x", record=True, when="thresholds")
    sp_lo, sp_up = b2.SpikeMonitor(lower), b2.SpikeMonitor(upper)
    net.network.add(x_lo, x_up, sp_lo, sp_up)
    _run(net, spec)
    sign = phase_signals(spec, np.array([SAMPLE_TRAIN]))["learn_sign"]

    expected = np.zeros_like(weights[layer_pair])
    for i_lo, t in zip(sp_lo.i, np.round(sp_lo.t / b2.ms).astype(int)):
        expected[i_lo, :] += sign[t] * x_up.x[:, t]
    for i_up, t in zip(sp_up.i, np.round(sp_up.t / b2.ms).astype(int)):
        expected[:, i_up] += sign[t] * x_lo.x[:, t]
    lr_w = engine.learning_rates()[0][layer_pair]
    delta = np.asarray(net.synapses[layer_pair].w[:]).reshape(expected.shape) - weights[layer_pair]
    assert np.abs(expected).max() > 0, "no spike fell in a learning window"
    np.testing.assert_allclose(delta, lr_w * expected, rtol=1e-10, atol=1e-14)


def _spiking_and_rate_ep_updates(seed, beta):
    """One long training sample: (spiking ΔW, rate EP ΔW from the windows' spike counts)."""
    spec = small_spec(layers=(6, 8, 3), free=300, nudge=200, readout=100, beta=beta,
                      rates=[0.1, 0.1])
    rng = np.random.default_rng(seed)
    # neurons in the linear range of ρ, so that the nudge moves the rates
    weights = [rng.uniform(-0.2, 0.4, (6, 8)), rng.uniform(-0.3, 0.3, (8, 3))]
    biases = [rng.uniform(0.1, 0.3, 8), np.full(3, 0.4)]
    net = build_network(spec, 1, rates=rng.uniform(0.3, 0.7, (1, 6)),
                        targets=np.eye(3)[[1]], weights=weights, biases=biases)
    engine = RuntimeEngine(spec, 1)
    _set_rates(net, engine)
    monitors = [b2.SpikeMonitor(g) for g in net.layers]
    net.network.add(*monitors)
    _run(net, spec)
    t1, t2 = spec.phases.free_steps, spec.phases.nudge_steps
    spiking, rate_ep = [], []
    for k in (0, 1):
        n_lo, n_up = len(net.layers[k]), len(net.layers[k + 1])
        free = [_window_rates(monitors[j], n, t1 - t2, t1) for j, n in ((k, n_lo), (k + 1, n_up))]
        nudged = [_window_rates(monitors[j], n, t1, t1 + t2) for j, n in ((k, n_lo), (k + 1, n_up))]
        eta = spec.learning.rates[k]
        rate_ep.append(eta / beta * (np.outer(*nudged) - np.outer(*free)))
        spiking.append(np.asarray(net.synapses[k].w[:]).reshape(n_lo, n_up) - weights[k])
    return spiking, rate_ep


@pytest.mark.parametrize("beta", [1.0, 0.5])
def test_rule_agrees_with_rate_ep_update(beta):
    """The spiking update has the sign and (first order in β) size of the rate EP update.

    Long phases (T2 = 200 steps) make the rates well defined; the rate EP update is computed
    from the spike counts of the two windows, (η/β)(ρ_i^β ρ_j^β − ρ_i^0 ρ_j^0). The spiking
    estimate is a statistical one (sigma-delta codes quantise rates to 1/T2), so the check
    pools four random networks: signs of the sizable updates agree, and the least-squares
    ratio spiking/rate is 1 within 10% for each layer pair.
    """
    pooled = {0: ([], []), 1: ([], [])}
    for seed in range(4):
        spiking, rate_ep = _spiking_and_rate_ep_updates(seed, beta)
        for k in (0, 1):
            pooled[k][0].append(spiking[k].ravel())
            pooled[k][1].append(rate_ep[k].ravel())
    for k, (spiking, rate_ep) in pooled.items():
        spiking, rate_ep = np.concatenate(spiking), np.concatenate(rate_ep)
        big = np.abs(rate_ep) > 0.2 * np.abs(rate_ep).max()
        assert big.sum() >= 10
        agree = np.mean(np.sign(spiking[big]) == np.sign(rate_ep[big]))
        assert agree >= 0.95, f"layer pair {k}: signs agree for {agree:.0%} only"
        slope = np.sum(spiking * rate_ep) / np.sum(rate_ep * rate_ep)
        assert 0.9 < slope < 1.1, f"layer pair {k}: spiking/rate EP update ratio {slope:.3f}"


def test_bias_update_is_the_counted_spike_difference():
    """Δb_i = lr_b (N_i^β − N_i^0): spikes counted in the nudged and free windows."""
    spec = small_spec(layers=(3, 4, 2), free=16, nudge=8, readout=8)
    rng = np.random.default_rng(5)
    weights = [rng.uniform(-0.5, 1, (3, 4)), rng.uniform(-0.5, 1, (4, 2))]
    biases = [rng.uniform(0, 0.3, 4), rng.uniform(0, 0.3, 2)]
    net = build_network(spec, 1, rates=rng.uniform(0.2, 1, (1, 3)), targets=np.eye(2)[[1]],
                        weights=weights, biases=biases)
    engine = RuntimeEngine(spec, 1)
    _set_rates(net, engine)
    monitors = [b2.SpikeMonitor(g) for g in net.layers[1:]]
    net.network.add(*monitors)
    _run(net, spec)
    t1, t2 = spec.phases.free_steps, spec.phases.nudge_steps
    for k, mon in enumerate(monitors):
        n = len(net.layers[k + 1])
        diff = (_window_rates(mon, n, t1, t1 + t2) - _window_rates(mon, n, t1 - t2, t1)) * t2
        lr_b = engine.learning_rates()[1][k]
        np.testing.assert_allclose(np.asarray(net.layers[k + 1].b[:]) - biases[k], lr_b * diff,
                                   atol=1e-12)


@pytest.mark.parametrize("nudging", ["one_sided", "symmetric"])
def test_window_rate_state_sums_the_rate_state_which_is_count_plus_residual(nudging):
    """``window_rate = "state"``: over a training sample Δb_i = lr_b Σ_t σ(t) ρ(u_i(t))
    (recorded u), exactly; and for the sigma-delta code that sum equals the signed spike
    count plus the accumulator's residual at each window's ends (Σρ = n + sd_end − sd_start),
    so it is the spike count without its quantisation error."""
    spec = small_spec(layers=(3, 4, 2), free=16, nudge=8, readout=8,
                      extra='window_rate = "state"').replace(phases={"nudging": nudging})
    rng = np.random.default_rng(5)
    weights = [rng.uniform(-0.5, 1, (3, 4)), rng.uniform(-0.5, 1, (4, 2))]
    biases = [rng.uniform(0, 0.3, 4), rng.uniform(0, 0.3, 2)]
    net = build_network(spec, 1, rates=rng.uniform(0.2, 1, (1, 3)), targets=np.eye(2)[[1]],
                        weights=weights, biases=biases)
    engine = RuntimeEngine(spec, 1)
    _set_rates(net, engine)
    # the state and accumulator after each step's update (the step's spike not yet counted)
    u = [b2.StateMonitor(g, "u", record=True, when="groups", order=1) for g in net.layers[1:]]
    sd = [b2.StateMonitor(g, "sd", record=True, when="groups", order=1) for g in net.layers[1:]]
    spikes = [b2.SpikeMonitor(g) for g in net.layers[1:]]
    net.network.add(*u, *sd, *spikes)
    _run(net, spec)
    sign = phase_signals(spec, np.array([SAMPLE_TRAIN]))["learn_sign"]
    steps = spec.steps_per_sample
    for k in range(2):
        rho = np.clip(u[k].u[:, :steps], 0, 1)
        h = rho @ sign[:steps]
        lr_b = engine.learning_rates()[1][k]
        np.testing.assert_allclose(np.asarray(net.layers[k + 1].b[:]) - biases[k], lr_b * h,
                                   rtol=1e-12, atol=1e-15)
        # the same sum from spikes and residuals, window by window
        t = np.round(spikes[k].t / b2.ms).astype(int)
        acc = sd[k].sd[:, :steps]                      # sd after adding the step's ρ
        for value in (-1.0, 1.0):
            window = np.flatnonzero(sign[:steps] == value)
            first, last = window[0], window[-1]
            in_window = (t >= first) & (t <= last)
            n = np.bincount(spikes[k].i[in_window], minlength=len(h))
            before = acc[:, first] - rho[:, first]     # the accumulator entering the window
            after = acc[:, last] - n_at(spikes[k], last, len(h))
            np.testing.assert_allclose(rho[:, window].sum(axis=1), n + after - before,
                                       atol=1e-12)


def n_at(monitor, step, n):
    """Spikes of each neuron at one step."""
    t = np.round(monitor.t / b2.ms).astype(int)
    return np.bincount(monitor.i[t == step], minlength=n)


def test_nudge_anneal_scales_the_step_size_within_each_nudged_phase():
    """``[phases] nudge_anneal = a``: at the n-th step of a nudged phase the state moves by
    α (1 − (1 − a) n/(T2 − 1)) (drive − u) (α elsewhere): the output layer's recorded u
    follows the equation exactly, with its recorded input I, bias and nudge."""
    a, t1, t2 = 0.25, 12, 6
    spec = small_spec(layers=(3, 4, 2), free=t1, nudge=t2, readout=6).replace(
        phases={"nudge_anneal": a})
    scale = phase_signals(spec, np.array([SAMPLE_TRAIN, SAMPLE_EVAL]))["alpha_scale"]
    s = spec.steps_per_sample
    np.testing.assert_allclose(scale[t1:s], 1 - (1 - a) * np.arange(t2) / (t2 - 1))
    assert np.all(scale[:t1] == 1) and np.all(scale[s:] == 1)   # free steps, evaluation
    rng = np.random.default_rng(8)
    weights = [rng.uniform(-0.5, 1, (3, 4)), rng.uniform(-0.5, 1, (4, 2))]
    biases = [rng.uniform(0, 0.3, 4), rng.uniform(0, 0.3, 2)]
    target = np.eye(2)[[1]]
    net = build_network(spec, 1, rates=rng.uniform(0.2, 1, (1, 3)), targets=target,
                        weights=weights, biases=biases)
    RuntimeEngine(spec, 1).set_run_parameters(net)
    out = net.layers[2]
    u = b2.StateMonitor(out, "u", record=True, when="end")
    drive = b2.StateMonitor(out, "I", record=True, when="start")
    net.network.add(u, drive)
    _run(net, spec)
    alpha, nudge = 1 / spec.spiking.tau_u, phase_signals(spec, np.array([SAMPLE_TRAIN]))["nudge"]
    u_prev = np.c_[np.zeros(2), u.u[:, :s - 1]]
    expected = u_prev + alpha * scale[:s] * (
        drive.I[:, :s] + biases[1][:, None]
        + nudge[:s] * (target.T - np.clip(u_prev, 0, 1)) - u_prev)
    np.testing.assert_allclose(u.u[:, :s], expected, rtol=1e-12, atol=1e-14)


def test_weight_scale_matches_its_equation():
    assert rules.RULES['eqspike'].weight_scale(0.1, 0.5, 20, 5.0) == pytest.approx(0.1 / (2 * 0.5 * 20 * 0.8))
    assert rules.RULES['eqspike'].bias_scale(0.1, 0.5, 20, 5.0) == pytest.approx(0.1 / (0.5 * 20))
    continual = rules.RULES['continual']
    assert continual.weight_scale(0.1, 0.5, 20, 5.0, partner="state") == pytest.approx(0.1 / 0.5)
    assert continual.weight_scale(0.1, 0.5, 20, 5.0, partner="trace") == pytest.approx(0.1 / 0.4)
    assert continual.bias_scale(0.1, 0.5, 20, 5.0, partner="state") == pytest.approx(0.1 / 0.5)


def test_bernoulli_code_runs_and_is_reproducible():
    spec = small_spec(code="bernoulli")
    rng = np.random.default_rng(1)
    args = (rng.uniform(0, 1, (2, 3)), np.eye(2), np.full(2, SAMPLE_TRAIN),
            [rng.uniform(-1, 1, (3, 4)), rng.uniform(-1, 1, (4, 2))], [np.zeros(4), np.zeros(2)])
    a = RuntimeEngine(spec, 2, seed=4).run_chunk(*args)
    b = RuntimeEngine(spec, 2, seed=4).run_chunk(*args)
    for x, y in zip(a.weights, b.weights):
        np.testing.assert_array_equal(x, y)
    assert a.events.sum() > 0


def test_learning_rate_schedule_decays_per_epoch():
    spec = small_spec(extra="decay = 0.5")
    engine = RuntimeEngine(spec, 1)
    (w0, b0), (w2, b2) = engine.learning_rates(0), engine.learning_rates(2)
    np.testing.assert_allclose(w2, np.array(w0) * 0.25)
    np.testing.assert_allclose(b2, np.array(b0) * 0.25)


@pytest.mark.parametrize("nudging, input_code", [("one_sided", "rate"),
                                                 ("symmetric", "graded")])
def test_event_counters_equal_spikes_counted_by_monitors(nudging, input_code):
    """Per sample, layer and part of the sample, the in-simulation counters equal a direct
    count of the spikes recorded by SpikeMonitors."""
    spec = small_spec(layers=(3, 4, 2), free=12, nudge=6, readout=6).replace(
        phases={"nudging": nudging}, spiking={"input_code": input_code})
    rng = np.random.default_rng(9)
    weights = [rng.uniform(-0.5, 1, (3, 4)), rng.uniform(-0.5, 1, (4, 2))]
    biases = [rng.uniform(0, 0.3, 4), rng.uniform(0, 0.3, 2)]
    kinds = np.array([SAMPLE_TRAIN, SAMPLE_EVAL, SAMPLE_TRAIN])
    net = build_network(spec, 3, rates=rng.uniform(0.2, 1, (3, 3)), targets=np.eye(2)[[0, 1, 1]],
                        kinds=kinds, weights=weights, biases=biases)
    monitors = [b2.SpikeMonitor(g) for g in net.layers]
    net.network.add(*monitors)
    _run(net, spec)
    counted = RuntimeEngine._collect(net, 3).events  # (samples, layers, phases)
    signals = phase_signals(spec, kinds)
    s = spec.steps_per_sample
    expected = np.zeros_like(counted)
    for layer, mon in enumerate(monitors):
        for t in np.round(mon.t / b2.ms).astype(int):
            phase, sigma = int(signals["phase"][t]), int(signals["learn_sign"][t])
            part = {-1: 1, 1: 2}.get(sigma, 0 if phase == 0 else None)
            if part is not None:
                expected[t // s, layer, part] += 1
    np.testing.assert_array_equal(counted, expected)
    assert counted[1, :, 1:].sum() == 0  # the evaluation sample: no window, no nudge
    assert counted[0, :, 2].sum() > 0
    if input_code == "graded":  # one event per input neuron and sample, at its first step
        np.testing.assert_array_equal(counted[:, 0], [[3, 0, 0]] * 3)


def test_graded_input_delivers_its_values_once_and_learns_from_signed_counts():
    """``input_code = "graded"``: each non-zero input sends one event at the sample's start;
    the hidden layer then holds Ix = W_0ᵀ r for the whole sample; a zero input sends nothing;
    and over a training sample ΔW_0 = lr_w r H with H_i the hidden neuron's phase-signed
    count of window spikes (:data:`eqspike.rules.GRADED_APPLY`), exactly."""
    spec = small_spec(layers=(3, 4, 2), free=16, nudge=8, readout=8).replace(
        spiking={"input_code": "graded"}, phases={"nudging": "symmetric"})
    rng = np.random.default_rng(1)
    weights = [rng.uniform(-0.5, 1, (3, 4)), rng.uniform(-0.5, 1, (4, 2))]
    biases = [rng.uniform(0, 0.3, 4), rng.uniform(0, 0.3, 2)]
    rates = np.array([[0.7, 0.0, 0.35], [0.2, 0.9, 0.0]])
    kinds = np.array([SAMPLE_TRAIN, SAMPLE_EVAL])
    net = build_network(spec, 2, rates=rates, targets=np.eye(2)[[0, 1]], kinds=kinds,
                        weights=weights, biases=biases)
    engine = RuntimeEngine(spec, 2)
    _set_rates(net, engine)
    drive = b2.StateMonitor(net.layers[1], "Ix", record=True, when="end")
    inputs, hidden = b2.SpikeMonitor(net.layers[0]), b2.SpikeMonitor(net.layers[1])
    weight = b2.StateMonitor(net.synapses[0], "w", record=True, when="end")
    net.network.add(drive, inputs, hidden, weight)
    _run(net, spec)
    s = spec.steps_per_sample
    t_in = np.round(inputs.t / b2.ms).astype(int)
    assert list(zip(inputs.i, t_in)) == [(0, 0), (2, 0), (0, s), (1, s)]
    sign = phase_signals(spec, kinds)["learn_sign"]
    t_hid = np.round(hidden.t / b2.ms).astype(int)
    first = t_hid < s
    counts = np.bincount(hidden.i[first], weights=sign[t_hid[first]], minlength=4)
    assert np.any(counts != 0), "no net window spike: the test would check nothing"
    lr_w = engine.learning_rates()[0][0]
    # the input pair runs on the sample clock: one column per sample boundary
    assert weight.w.shape[1] == 3
    after_training = np.asarray(weight.w[:, 1]).reshape(3, 4)
    np.testing.assert_allclose(after_training - weights[0], lr_w * np.outer(rates[0], counts),
                               rtol=1e-12, atol=1e-15)
    for k, w0 in enumerate((weights[0], after_training)):  # the drive, held through the sample
        held = drive.Ix[:, k * s:(k + 1) * s]
        np.testing.assert_allclose(held, (w0.T @ rates[k])[:, None].repeat(s, 1), rtol=1e-12)
    # the weights move once, after the training sample; the evaluation sample moves nothing
    w = np.asarray(weight.w)
    np.testing.assert_array_equal(w[:, 0], weights[0].ravel())
    np.testing.assert_array_equal(w[:, 2], w[:, 1])


def test_weight_bound_clips_every_update():
    spec = small_spec(rates=[5.0, 5.0], extra="weight_bound = 0.3")
    rng = np.random.default_rng(4)
    result = RuntimeEngine(spec, 3).run_chunk(
        rng.uniform(0.5, 1, (3, 3)), np.eye(2)[[0, 1, 0]], np.full(3, SAMPLE_TRAIN),
        [rng.uniform(-0.25, 0.25, (3, 4)), rng.uniform(-0.25, 0.25, (4, 2))],
        [np.full(4, 0.3), np.full(2, 0.3)])
    both = np.concatenate([w.ravel() for w in result.weights])
    assert np.abs(both).max() == pytest.approx(0.3)  # the large rate drove some to the bound
