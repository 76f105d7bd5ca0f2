"""Plasticity: rule variants, symmetric nudging, STDP logging and the pairing protocol."""

from __future__ import annotations

import brian2 as b2
import numpy as np
import pytest

from eqspike import cli, runfile
from eqspike.engine import RuntimeEngine
from eqspike.rules import RULES, effective_beta
from eqspike.plasticity.pairing import pairing_window
from eqspike.plasticity.stdp_log import (EVENT_DTYPE, STDPLogger, logged_neurons,
                                         select_synapses)
from eqspike.plasticity.window import binned_window, fit_exponentials, load_log
from eqspike.schedule import SAMPLE_TRAIN, phase_signals
from eqspike.spiking import build_network

from .conftest import small_spec


def _two_neurons(nudging="one_sided", rule="eqspike"):
    """One input neuron, one output neuron: everything is deterministic (sigma-delta)."""
    spec = small_spec(layers=(1, 1), free=16, nudge=8, readout=4, rates=[0.5],
                      extra=f'rule = "{rule}"')
    return spec.replace(phases={"nudging": nudging})


@pytest.mark.parametrize("nudging, rule", [("one_sided", "eqspike"), ("symmetric", "eqspike"),
                                           ("symmetric", "continual")])
def test_logged_changes_sum_exactly_to_the_weight_change(nudging, rule):
    spec = _two_neurons(nudging, rule)
    selection = select_synapses(spec, 1)
    logger = STDPLogger(spec, selection)
    engine = RuntimeEngine(spec, 6, log_neurons=logger.neurons)
    weights, biases = [np.array([[0.6]])], [np.array([0.3])]
    rates = np.array([[0.7], [0.4], [0.9], [0.55], [0.8], [0.3]])
    targets = np.array([[1.0], [0.0], [1.0], [1.0], [0.0], [1.0]])
    logger.start_epoch(weights, 0)
    result = engine.run_chunk(rates, targets, np.full(6, SAMPLE_TRAIN), weights, biases)
    logger.add_chunk(result.logged_spikes, engine.learning_rates(0)[0], result.weights, 0, 6, 6)
    events = logger.kept[0]
    assert len(events) == logger.n_events[0] > 10
    assert set(events["trigger"]) == {0, 1} and set(events["sign"]) == {-1, 1}
    change = result.weights[0][0, 0] - weights[0][0, 0]
    assert abs(change) > 1e-4
    assert events["dw"].sum() == pytest.approx(change, rel=1e-12, abs=1e-15)
    assert logger.max_mismatch[0] < 1e-15
    # every change is triggered by a spike in a learning window, Δt has the trigger's sign
    assert np.all(events["dt_last"][events["trigger"] == 0] < 0)
    assert np.all(events["dt_last"][events["trigger"] == 1] > 0)


def test_causal_pairing_with_a_post_rate_increase_potentiates():
    spec = small_spec(layers=(2, 2), free=12, nudge=6, readout=4)
    up = pairing_window(spec, offsets=[-20, -5, -1, 0, 1, 5, 20], pairings=3)
    down = pairing_window(spec, offsets=[-5, 5], pairings=2, post_change="decrease")
    dw = dict(zip(up["dt"], up["mean"]))
    assert dw[1] > dw[5] > dw[20] > 0                      # causal: potentiation, decaying
    assert dw[0] == 0                                      # coincident spikes never pair
    # The rule's own pair kernel is symmetric: anti-causal pairing potentiates as much (it
    # does NOT depress, unlike Bi & Poo); the sign follows the phase of the rate change.
    assert dw[-5] == pytest.approx(dw[5], rel=1e-12)
    decay = 1 - 1 / spec.spiking.tau_trace
    assert dw[5] / dw[1] == pytest.approx(decay ** 4, rel=1e-9)
    assert np.all(down["mean"] < 0)
    assert np.all(up["sem"] == 0)                          # identical pairings


def test_end_of_phase_rule_has_no_timing_dependence_and_matches_its_formula():
    spec = small_spec(layers=(2, 2), free=12, nudge=6, readout=4,
                      extra='rule = "end_of_phase"')
    up = pairing_window(spec, offsets=[-5, 1, 5], pairings=2)
    lr_w = up["lr_w"]
    # one pre spike in each window, one post spike in the nudged window only:
    # ΔW = lr_w (n+_i n+_j − n−_i n−_j) = lr_w (1·1 − 0·1)
    assert np.allclose(up["mean"], lr_w)
    assert lr_w == pytest.approx(0.05 / (1.0 * 6 ** 2))


def test_end_of_phase_rule_in_the_network_equals_count_products():
    spec = small_spec(layers=(3, 2), free=12, nudge=6, readout=4, rates=[0.1],
                      extra='rule = "end_of_phase"')
    weights, biases = [np.full((3, 2), 0.4)], [np.array([0.2, 0.1])]
    net = build_network(spec, 1, rates=np.array([[0.9, 0.5, 0.3]]), targets=np.array([[1.0, 0.0]]),
                        weights=weights, biases=biases)
    engine = RuntimeEngine(spec, 1)
    engine.set_run_parameters(net)
    monitors = [b2.SpikeMonitor(g) for g in net.layers]
    net.network.add(*monitors)
    net.network.run(net.duration_steps * b2.ms, namespace={})
    sign = phase_signals(spec, np.array([SAMPLE_TRAIN]))["learn_sign"]
    counts = []
    for group, mon in zip(net.layers, monitors):
        step = np.rint(np.asarray(mon.t / b2.ms)).astype(int)
        n = np.zeros((2, len(group)))
        for i, k in zip(np.asarray(mon.i), step):
            if sign[k] != 0:
                n[int(sign[k] > 0), i] += 1
        counts.append(n)
    lr_w = engine.learning_rates(0)[0][0]
    expected = weights[0] + lr_w * (np.outer(counts[0][1], counts[1][1])
                                    - np.outer(counts[0][0], counts[1][0]))
    assert not np.allclose(expected, weights[0])
    assert np.allclose(np.asarray(net.synapses[0].w).reshape(3, 2), expected, rtol=0, atol=1e-14)


def test_symmetric_nudging_runs_minus_then_plus_from_the_free_state():
    spec = small_spec(layers=(3, 4, 2), free=10, nudge=5, readout=4, beta=1e-6)
    spec = spec.replace(phases={"nudging": "symmetric"})
    assert spec.steps_per_sample == 20 and effective_beta(spec) == pytest.approx(2e-6)
    s = phase_signals(spec, np.array([SAMPLE_TRAIN]))
    assert s["nudge"][:20].tolist() == [0] * 10 + [-1] * 5 + [1] * 5
    assert s["learn_sign"][:20].tolist() == [0] * 10 + [-1] * 5 + [1] * 5
    assert np.flatnonzero(s["snapshot"]).tolist() == [10]
    assert np.flatnonzero(s["restore"]).tolist() == [15]
    # with a negligible β, the +β phase restarts from the saved free state and repeats the
    # −β phase spike for spike
    rng = np.random.default_rng(2)
    weights = [rng.uniform(-0.3, 0.8, (3, 4)), rng.uniform(-0.3, 0.8, (4, 2))]
    net = build_network(spec, 1, rates=np.array([[0.8, 0.3, 0.6]]),
                        targets=np.array([[1.0, 0.0]]), weights=weights,
                        biases=[np.full(4, 0.2), np.full(2, 0.2)])
    monitors = [b2.SpikeMonitor(g) for g in net.layers[1:]]
    net.network.add(*monitors)
    net.network.run(20 * b2.ms, namespace={})
    for mon in monitors:
        step = np.rint(np.asarray(mon.t / b2.ms)).astype(int)
        minus = sorted((i, k - 10) for i, k in zip(mon.i, step) if 10 <= k < 15)
        plus = sorted((i, k - 15) for i, k in zip(mon.i, step) if 15 <= k < 20)
        assert minus == plus and len(plus) > 0


def test_logger_memory_stays_bounded_over_a_long_run():
    spec = small_spec(layers=(20, 10, 4), free=12, nudge=6, readout=4)
    selection = select_synapses(spec, 30, seed=3)
    logger = STDPLogger(spec, selection, max_events=200, dt_range=10)
    neurons = logged_neurons(spec, selection)
    rng = np.random.default_rng(0)
    n, steps = 50, spec.steps_per_sample
    weights = [np.zeros((20, 10)), np.zeros((10, 4))]
    logger.start_epoch(weights, 0)
    for chunk in range(40):
        spikes = []
        for ids in neurons:
            count = 8 * n * len(ids)
            spikes.append((rng.choice(ids, count), rng.integers(0, n * steps, count)))
        logger.add_chunk(spikes, [1e-3, 1e-3], weights, chunk * n, n, (chunk + 1) * n)
        assert all(len(k) <= 200 for k in logger.kept)
        assert logger.window.shape == (2, 2, 2, 22, 3)
    assert all(len(k) == 200 for k in logger.kept)
    assert logger.n_events.min() > 100 * 200                 # far more changes than kept
    counts = logger.window[..., 0].sum(axis=(2, 3))          # (pairs, dt kinds)
    assert np.all(counts == logger.n_events[:, None])        # every change is binned
    assert logger.kept[0].dtype == EVENT_DTYPE
    samples = np.concatenate([k["sample"] for k in logger.kept])
    assert samples.min() < 400 and samples.max() > 1600       # a sample of the whole epoch


def test_window_statistics_and_exponential_fit():
    dt = np.arange(-30, 31)
    truth = np.where(dt > 0, 2e-3 * np.exp(-dt / 6.0), -1e-3 * np.exp(dt / 12.0))
    truth[dt == 0] = 0.0
    fit = fit_exponentials(dt, truth)
    assert fit["plus"]["A"] == pytest.approx(2e-3, rel=1e-6)
    assert fit["plus"]["tau"] == pytest.approx(6.0, rel=1e-6)
    assert fit["minus"]["A"] == pytest.approx(-1e-3, rel=1e-6)
    assert fit["minus"]["tau"] == pytest.approx(12.0, rel=1e-6)
    window = np.zeros((2, 2, 2 * 3 + 2, 3))
    window[0, 1, 3 + 1] = [4, 4.0, 5.0]                      # Δt = +1: four changes of 1.0 ± 0.5
    binned = binned_window(window, 3)
    assert binned["positive"]["mean"][4] == pytest.approx(1.0)
    assert binned["net"]["count"][4] == 4
    assert binned["net"]["sem"][4] == pytest.approx(np.sqrt((5 / 4 - 1) * 4 / 3 / 4))


def test_training_with_logging_writes_the_log_and_the_report(tmp_path, data_dir, capsys):
    from eqspike.spec import load_network
    from eqspike.training import train

    spec = load_network("tiny").replace(training={"train_samples": 40, "chunk_samples": 20})
    path = tmp_path / "run.h5"
    train(spec, path, data_dir=data_dir, mode="runtime", test_samples=10, progress=False,
          log_synapses=12, log_max_events=500)
    log = load_log(path)
    assert [len(p) for p, _ in log["selection"]] == [12, 12]
    epoch = log["epochs"]["epoch_0001"]
    assert epoch["trajectory_0"].shape == (3, 12)            # start + 2 chunks
    final = runfile.read_run(path).final.weights
    pre, post = log["selection"][1]
    assert np.array_equal(epoch["trajectory_1"][-1], final[1][pre, post])
    assert float(np.max(epoch["attrs"]["max_mismatch"])) < 1e-12
    assert cli.main(["plasticity", str(path), "--out", str(tmp_path / "p"),
                     "--pairings", "2"]) == 0
    for name in ("stdp_window.png", "stdp_window.csv", "stdp_fits.csv", "weight_changes.png",
                 "weight_trajectories.png"):
        assert (tmp_path / "p" / name).stat().st_size > 0
    assert "protocol" in capsys.readouterr().out


def test_plasticity_on_a_run_without_a_log_is_one_clear_error(tmp_path, capsys):
    spec = small_spec()
    from eqspike.parameters import as_lists, init_parameters

    path = tmp_path / "plain.h5"
    runfile.create_run(path, spec, 0, *as_lists(spec, init_parameters(spec, 0)))
    assert cli.main(["plasticity", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no STDP log" in err


def test_logging_needs_a_spike_driven_rule():
    spec = small_spec(extra='rule = "end_of_phase"')
    assert not RULES["end_of_phase"].spike_driven
    with pytest.raises(ValueError, match="spike-driven"):
        RuntimeEngine(spec, 2, log_neurons=[[0], [0], [0]])


# --- the continual rule ---------------------------------------------------------------

def _continual_sample(partner, nudging="symmetric", seed=3):
    """One training sample of a small network with the continual rule, every step recorded:
    weights and biases after the step, the partners' changes dv, the accumulators sd (both
    after the step's update) and the spikes."""
    spec = small_spec(layers=(3, 4, 2), free=16, nudge=10, readout=8, rates=[0.2, 0.2],
                      extra=f'rule = "continual"\npartner = "{partner}"').replace(
        phases={"nudging": nudging})
    rng = np.random.default_rng(seed)
    weights = [rng.uniform(-0.3, 0.9, (3, 4)), rng.uniform(-0.4, 0.9, (4, 2))]
    biases = [rng.uniform(0.0, 0.3, 4), rng.uniform(0.1, 0.4, 2)]
    net = build_network(spec, 1, rates=rng.uniform(0.2, 0.9, (1, 3)), targets=np.eye(2)[[0]],
                        weights=weights, biases=biases)
    engine = RuntimeEngine(spec, 1)
    engine.set_run_parameters(net)
    after = dict(when="groups", order=1)   # after the step's update, before its spikes
    rec = {"w": [b2.StateMonitor(s, "w", record=True, when="end") for s in net.synapses],
           "b": [b2.StateMonitor(g, "b", record=True, when="end") for g in net.layers[1:]],
           "dv": [b2.StateMonitor(g, "dv", record=True, **after) for g in net.layers],
           "v": [b2.StateMonitor(g, "rho", record=True, **after) for g in net.layers],
           "sd": [b2.StateMonitor(g, "sd", record=True, when="end") for g in net.layers],
           "spikes": [b2.SpikeMonitor(g) for g in net.layers]}
    for monitors in rec.values():
        net.network.add(*monitors)
    net.network.run(net.duration_steps * b2.ms, namespace={})
    steps = spec.steps_per_sample
    spikes = []
    for g, mon in zip(net.layers, rec["spikes"]):
        raster = np.zeros((len(g), steps))
        t = np.round(mon.t / b2.ms).astype(int)
        raster[mon.i[t < steps], t[t < steps]] = 1.0
        spikes.append(raster)
    variable = {"w": "w", "b": "b", "dv": "dv", "v": "rho", "sd": "sd"}
    out = {k: [np.asarray(getattr(m, name))[:, :steps] for m in rec[k]]
           for k, name in variable.items()}
    out["spikes"] = spikes
    sign = phase_signals(spec, np.array([SAMPLE_TRAIN]))["learn_sign"][:steps]
    return spec, engine, weights, biases, out, sign


@pytest.mark.parametrize("partner", ["state", "trace"])
def test_continual_rule_moves_each_weight_at_spikes_by_the_partners_change(partner):
    """``rule = "continual"``: at step t a weight changes by exactly
    lr_w σ(t) (s_pre(t) dv_post(t) + s_post(t) dv_pre(t)) (dv: the partner's change of its
    trace or rate state over the last step), so only at spikes in the nudged phases and at
    once; a bias by lr_b σ(t) dv(t) at every step."""
    spec, engine, weights, biases, rec, sign = _continual_sample(partner)
    lr_w, lr_b = engine.learning_rates()
    moved = 0
    for k, w0 in enumerate(weights):
        n_pre, n_post = w0.shape
        w = rec["w"][k].reshape(n_pre, n_post, -1)
        dw = np.diff(np.concatenate([w0[:, :, None], w], axis=2), axis=2)
        s_pre, s_post = rec["spikes"][k], rec["spikes"][k + 1]
        dv_pre, dv_post = rec["dv"][k], rec["dv"][k + 1]
        expected = lr_w[k] * sign * (s_pre[:, None, :] * dv_post[None, :, :]
                                     + s_post[None, :, :] * dv_pre[:, None, :])
        np.testing.assert_allclose(dw, expected, rtol=1e-10, atol=1e-15)
        assert np.all(dw[:, :, sign == 0] == 0), "a weight moved outside the nudged phases"
        moved += np.count_nonzero(dw)
    assert moved > 20, "too few spikes in the nudged phases: the test would check little"
    for k, b0 in enumerate(biases):
        db = np.diff(np.concatenate([b0[:, None], rec["b"][k]], axis=1), axis=1)
        np.testing.assert_allclose(db, lr_b[k] * sign * rec["dv"][k + 1], rtol=1e-10,
                                   atol=1e-15)


def test_continual_rule_telescopes_to_the_ep_update_within_its_sampling_error():
    """Over each nudged phase P (from the free state, sign σ) the continual rule's change,
    divided by lr_w, is σ times

        Σ_P s_j dv_i + s_i dv_j  =  Δ_P(v_i v_j)  +  Σ_P dv_i dv_j  −  Σ_P (Δsd_j dv_i + Δsd_i dv_j)

    with v = ρ(u) the rate state: the telescoped EP difference of the phase, a second-order
    term, and the spike code's sampling error (s = v − Δsd for the sigma-delta code). This
    is checked exactly (1e-12). The sampling error is at most TV(dv_i) + TV(dv_j), with
    TV(dv) = |dv(first)| + |dv(last)| + Σ |dv(t+1) − dv(t)| over the phase, whatever the
    number of spikes (0 ≤ sd < 1); that bound is checked too. Summed over the −β and +β
    phases, Δ(v_i v_j) is (v_i v_j)^{+β} − (v_i v_j)^{−β}: symmetric EP."""
    spec, engine, weights, _, rec, sign = _continual_sample("state")
    lr_w = engine.learning_rates()[0]
    t1 = spec.phases.free_steps
    for k, w0 in enumerate(weights):
        n_pre, n_post = w0.shape
        total = rec["w"][k].reshape(n_pre, n_post, -1)[:, :, -1] - w0
        got = np.zeros_like(w0)
        for value in (-1.0, 1.0):
            phase = np.flatnonzero(sign == value)
            start = t1 - 1                               # the free state both phases leave
            v = [rec["v"][k][:, phase], rec["v"][k + 1][:, phase]]
            dv = [rec["dv"][k][:, phase], rec["dv"][k + 1][:, phase]]
            sd_before = [np.column_stack([rec["sd"][m][:, start], rec["sd"][m][:, phase[:-1]]])
                         for m in (k, k + 1)]
            dsd = [rec["sd"][m][:, phase] - before for m, before in zip((k, k + 1), sd_before)]
            spikes = [rec["spikes"][k][:, phase], rec["spikes"][k + 1][:, phase]]
            rule = spikes[0] @ dv[1].T + dv[0] @ spikes[1].T
            telescoped = (np.outer(v[0][:, -1], v[1][:, -1])
                          - np.outer(rec["v"][k][:, start], rec["v"][k + 1][:, start]))
            second = dv[0] @ dv[1].T
            sampling = -(dsd[0] @ dv[1].T + dv[0] @ dsd[1].T)
            np.testing.assert_allclose(rule, telescoped + second + sampling, atol=1e-12)

            def tv(d):
                return np.abs(d[:, 0]) + np.abs(d[:, -1]) + np.abs(np.diff(d, axis=1)).sum(1)

            bound = tv(dv[0])[:, None] + tv(dv[1])[None, :]
            assert np.all(np.abs(sampling) <= bound + 1e-12)
            got += value * rule
        np.testing.assert_allclose(total, lr_w[k] * got, rtol=1e-10, atol=1e-15)


def test_symmetric_nudging_seeks_dt_within_each_timeline():
    """With symmetric nudging the +β phase restarts from the free state: a change triggered
    there takes its Δt from the free and +β spikes (in that timeline's time), never from the
    −β phase's, and vice versa."""
    from eqspike.plasticity.stdp_log import NO_SPIKE, _branch_neighbours

    spec = small_spec(layers=(1, 1), free=4, nudge=3, readout=2).replace(
        phases={"nudging": "symmetric"})
    raster = np.zeros((1, 10, 1), dtype=bool)
    raster[0, [2, 5, 8], 0] = True            # free step 2, −β step 5, +β step 8 (time 5)
    last, nxt = (a[0, :, 0] for a in _branch_neighbours(spec, raster))
    steps = np.arange(10)
    # −β steps 4..6: free spike 2 and −β spike 5 only
    assert list(last[4:7] - steps[4:7]) == [-2, -3, -1]
    assert list(nxt[4:7] - steps[4:7]) == [1, 0, NO_SPIKE - 6]
    # +β steps 7..9 (times 4..6): free spike at time 2 and +β spike at time 5 only
    assert list(last[7:10] - steps[7:10]) == [-2, -3, -1]
    assert list(nxt[7:9] - steps[7:9]) == [1, 0] and nxt[9] == NO_SPIKE
