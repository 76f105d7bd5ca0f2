"""Numbers written from the docstrings' formulas, not from the code's own helpers.

Every learning-rate scale (:mod:`eqspike.rules`), every learning window's first
and last step (:func:`eqspike.schedule.phase_signals`) and every energy term
(:mod:`eqspike.energy`) on a tiny case, with the expected values worked out by hand from
the equations in those modules' docstrings. A factor of two in a scale, a window shifted
by one step or an energy term dropped or doubled fails here.
"""

from __future__ import annotations

import numpy as np
import pytest

from eqspike import energy
from eqspike.rules import rule_scales
from eqspike.schedule import SAMPLE_EVAL, SAMPLE_TRAIN, phase_signals

from .conftest import small_spec

# -- learning-rate scales ---------------------------------------------------------------
# eta = (0.05, 0.02) per layer pair, eta_b = (0.03, 0.01), beta = 1, T_w = T2 = 6,
# tau_trace = 5 (a trace's read mean 1 - 1/tau = 0.8; the rate state's 1), one-sided
# beta_eff = beta = 1, symmetric beta_eff = 2 beta = 2.
#   eqspike       lr_w = eta / (2 beta_eff T_w m)     lr_b = eta_b / (beta_eff T_w)
#   end_of_phase  lr_w = eta / (beta_eff T_w^2)       lr_b = eta_b / (beta_eff T_w)
#   graded pair   lr_w = eta / (beta_eff T_w)         (eqspike and end_of_phase)
#   continual     lr_w = eta / (beta_eff m)           lr_b = eta_b / (beta_eff m)
SCALES = [
    # rule, nudging, input_code, partner: (lr_w pair 0, pair 1), (lr_b layer 1, layer 2)
    ("eqspike", "one_sided", "rate", "trace", (0.05 / 9.6, 0.02 / 9.6), (0.03 / 6, 0.01 / 6)),
    ("eqspike", "symmetric", "rate", "trace", (0.05 / 19.2, 0.02 / 19.2),
     (0.03 / 12, 0.01 / 12)),
    ("eqspike", "one_sided", "rate", "state", (0.05 / 12, 0.02 / 12), (0.03 / 6, 0.01 / 6)),
    ("eqspike", "symmetric", "graded", "trace", (0.05 / 12, 0.02 / 19.2),
     (0.03 / 12, 0.01 / 12)),
    ("end_of_phase", "one_sided", "rate", "trace", (0.05 / 36, 0.02 / 36),
     (0.03 / 6, 0.01 / 6)),
    ("end_of_phase", "symmetric", "graded", "trace", (0.05 / 12, 0.02 / 72),
     (0.03 / 12, 0.01 / 12)),
    ("continual", "one_sided", "rate", "trace", (0.05 / 0.8, 0.02 / 0.8),
     (0.03 / 0.8, 0.01 / 0.8)),
    ("continual", "symmetric", "rate", "state", (0.05 / 2, 0.02 / 2), (0.03 / 2, 0.01 / 2)),
    ("continual", "symmetric", "graded", "trace", (0.05 / 1.6, 0.02 / 1.6),
     (0.03 / 1.6, 0.01 / 1.6)),
]


def _rule_spec(rule, nudging, input_code, partner, decay=1.0, every="epoch"):
    return small_spec(layers=(3, 4, 2), free=12, nudge=6, readout=6).replace(
        phases={"nudging": nudging, "beta": 1.0}, spiking={"input_code": input_code,
                                                           "tau_trace": 5.0},
        learning={"rule": rule, "partner": partner, "rates": [0.05, 0.02],
                  "bias_rates": [0.03, 0.01], "decay": decay, "decay_every": every})


@pytest.mark.parametrize("rule, nudging, input_code, partner, lr_w, lr_b", SCALES)
def test_learning_rate_scales_follow_the_rules_equations(rule, nudging, input_code, partner,
                                                         lr_w, lr_b):
    got_w, got_b = rule_scales(_rule_spec(rule, nudging, input_code, partner))
    np.testing.assert_allclose(got_w, lr_w, rtol=1e-12)
    np.testing.assert_allclose(got_b, lr_b, rtol=1e-12)


def test_learning_rate_schedule_decays_as_eta_decay_to_the_position():
    """eta_e = eta * decay^e: with decay 0.5, 1.5 epochs in, the factor is 0.5^1.5."""
    spec = _rule_spec("eqspike", "one_sided", "rate", "trace", decay=0.5, every="chunk")
    got_w, got_b = rule_scales(spec, 1.5)
    factor = 0.35355339059327373           # 0.5 ** 1.5
    np.testing.assert_allclose(got_w, [0.05 / 9.6 * factor, 0.02 / 9.6 * factor], rtol=1e-12)
    np.testing.assert_allclose(got_b, [0.03 / 6 * factor, 0.01 / 6 * factor], rtol=1e-12)


# -- learning windows -------------------------------------------------------------------
# T1 = 10, T2 = 4, readout 3; steps of one training sample are 0..T1+T2-1 (one-sided) or
# 0..T1+2T2-1 (symmetric). One-sided: the negative window is the last T2 free steps (6..9),
# the +beta phase steps 10..13. Symmetric: -beta phase 10..13, +beta phase 14..17, both
# from the free state saved at step 10 and restored at step 14.

def _signals(nudging, rule="eqspike", kind=SAMPLE_TRAIN):
    spec = small_spec(layers=(3, 4, 2), free=10, nudge=4, readout=3).replace(
        phases={"nudging": nudging}, learning={"rule": rule})
    return phase_signals(spec, np.array([kind]))


def _steps_where(signal, value):
    return np.flatnonzero(signal[:-1] == value).tolist()       # the last value is padding


@pytest.mark.parametrize("rule", ["eqspike", "end_of_phase"])
def test_one_sided_windows_first_and_last_steps(rule):
    s = _signals("one_sided", rule)
    assert len(s["learn_sign"]) == 14 + 1
    assert _steps_where(s["learn_sign"], -1.0) == [6, 7, 8, 9]      # free window
    assert _steps_where(s["learn_sign"], 1.0) == [10, 11, 12, 13]   # +beta phase
    assert _steps_where(s["nudge"], 1.0) == [10, 11, 12, 13]
    assert _steps_where(s["nudge"], -1.0) == []
    assert _steps_where(s["readout"], 1.0) == [7, 8, 9]             # last 3 free steps


def test_one_sided_continual_rule_has_no_free_window():
    s = _signals("one_sided", "continual")
    assert _steps_where(s["learn_sign"], -1.0) == []
    assert _steps_where(s["learn_sign"], 1.0) == [10, 11, 12, 13]


@pytest.mark.parametrize("rule", ["eqspike", "continual"])
def test_symmetric_windows_first_and_last_steps(rule):
    s = _signals("symmetric", rule)
    assert len(s["learn_sign"]) == 18 + 1
    assert _steps_where(s["learn_sign"], -1.0) == [10, 11, 12, 13]  # -beta phase
    assert _steps_where(s["learn_sign"], 1.0) == [14, 15, 16, 17]   # +beta phase
    assert _steps_where(s["nudge"], -1.0) == [10, 11, 12, 13]
    assert _steps_where(s["nudge"], 1.0) == [14, 15, 16, 17]
    assert _steps_where(s["snapshot"], 1.0) == [10]                 # free state saved
    assert _steps_where(s["restore"], 1.0) == [14]                  # and restored
    assert _steps_where(s["readout"], 1.0) == [7, 8, 9]


def test_an_evaluation_sample_has_no_window_and_no_nudge():
    s = _signals("symmetric", kind=SAMPLE_EVAL)
    assert not np.any(s["learn_sign"]) and not np.any(s["nudge"])
    assert _steps_where(s["readout"], 1.0) == [7, 8, 9]


# -- energy terms -----------------------------------------------------------------------
# Layers (3, 4, 2), T1 = 10, T2 = 4. Spikes per sample S[layer] = (free_quiet, free_window,
# nudged). The module docstring: synaptic events S_l n_{l+1} up and S_{l+1} n_l down (the
# input receives nothing); plasticity events the window spikes times fan-out on each side
# with rule code; weight writes n_l n_{l+1} + n_{l+1} per pair once a training sample
# (graded input: n_1 per input event; continual: biases at every window step); neuron
# updates n_l per step.
S = np.array([[5.0, 2.0, 3.0], [7.0, 1.0, 4.0], [2.0, 1.0, 6.0]])


def _energy_spec(nudging="one_sided", input_code="rate", rule="eqspike"):
    return small_spec(layers=(3, 4, 2), free=10, nudge=4, readout=3).replace(
        phases={"nudging": nudging}, spiking={"input_code": input_code},
        learning={"rule": rule})


def test_event_counts_of_a_training_sample_one_sided_eqspike():
    c = energy.spiking_counts(_energy_spec(), S, "training")
    # pair 0: 4 S_0 up; pair 1: 2 S_1 up + 4 S_2 down
    np.testing.assert_array_equal(c["synaptic_events"], [[20, 8, 12], [22, 6, 32]])
    # windows only (free_window, nudged): pair 0 4 S_0 + 3 S_1, pair 1 2 S_1 + 4 S_2
    np.testing.assert_array_equal(c["plasticity_events"], [[0, 11, 24], [0, 6, 32]])
    # 3 x 4 weights + 4 biases, 4 x 2 weights + 2 biases, once at the sample's end
    np.testing.assert_array_equal(c["weight_writes"], [[0, 0, 16], [0, 0, 10]])
    # steps per part one-sided: T1 - T2 = 6, T2 = 4, T2 = 4
    np.testing.assert_array_equal(c["neuron_updates"],
                                  [[18, 12, 12], [24, 16, 16], [12, 8, 8]])
    np.testing.assert_array_equal(c["trace_updates"], S)
    np.testing.assert_array_equal(c["spikes"], S)


def test_event_counts_of_an_inference():
    spikes = np.array([[5.0, 0, 0], [7.0, 0, 0], [2.0, 0, 0]])
    c = energy.spiking_counts(_energy_spec(), spikes, "inference")
    np.testing.assert_array_equal(c["synaptic_events"], [[20, 0, 0], [22, 0, 0]])
    np.testing.assert_array_equal(c["plasticity_events"], np.zeros((2, 3)))
    np.testing.assert_array_equal(c["weight_writes"], np.zeros((2, 3)))
    np.testing.assert_array_equal(c["neuron_updates"], [[30, 0, 0], [40, 0, 0], [20, 0, 0]])


def test_event_counts_with_a_graded_input():
    spikes = S.copy()
    spikes[0] = [2.0, 0.0, 0.0]            # two non-zero pixels: one event each per sample
    c = energy.spiking_counts(_energy_spec("symmetric", "graded"), spikes, "training")
    np.testing.assert_array_equal(c["synaptic_events"], [[8, 0, 0], [22, 6, 32]])
    # the graded pair fires no rule at spikes; the upper pair as before
    np.testing.assert_array_equal(c["plasticity_events"], [[0, 0, 0], [0, 6, 32]])
    # graded pair: 4 writes per input event (2 events) + 4 biases; upper pair 8 + 2
    np.testing.assert_array_equal(c["weight_writes"], [[0, 0, 12], [0, 0, 10]])
    # a graded input neuron loads once per sample; symmetric parts: T1, T2, T2
    np.testing.assert_array_equal(c["neuron_updates"],
                                  [[3, 0, 0], [40, 16, 16], [20, 8, 8]])
    np.testing.assert_array_equal(c["trace_updates"][0], [0, 0, 0])


def test_event_counts_of_the_continual_rule():
    c = energy.spiking_counts(_energy_spec("symmetric", "rate", "continual"), S, "training")
    np.testing.assert_array_equal(c["plasticity_events"], [[0, 11, 24], [0, 6, 32]])
    # no once-a-sample apply; biases move at each of the 2 x 4 window steps
    np.testing.assert_array_equal(c["weight_writes"], [[0, 16, 16], [0, 8, 8]])


def test_energy_is_each_count_times_its_constant():
    chip = energy.Device("chip", "neuromorphic", synop=2.0, spike=3.0, neuron_update=5.0,
                         synaptic_update=7.0)
    spec = _energy_spec()
    counts = energy.spiking_counts(spec, S, "training")
    joules = energy.device_energy(chip, counts, energy.dense_counts(spec, "training"))
    # 2 x 100 synaptic events, 3 x 31 spikes, 5 x 126 updates, 7 x (73 + 26) plasticity
    assert {k: float(v.sum()) for k, v in joules.items()} == {
        "synaptic_events": 200.0, "spikes": 93.0, "neuron_updates": 630.0,
        "plasticity": 693.0}


# The dense baseline (layers (5, 4, 3), T1 = 10, T2 = 4, one-sided): the input drive once
# (5 x 4 MACs), 2 n_l n_{l+1} MACs per step for the other pair, an activation per neuron and
# step; 4-byte weights read once per step per batch, states read and written per step, and
# in training 3 n_l n_{l+1} + n_{l+1} MACs and a read-modify-write of the weights per batch.

def _dense_spec():
    return small_spec(layers=(5, 4, 3), free=10, nudge=4, readout=4)


@pytest.mark.parametrize("batch, inference_bytes, training_bytes",
                         [(1, 1120.0, 1792.0), (50, 571.2, 804.16)])
def test_dense_baseline_macs_and_memory_traffic_per_batch(batch, inference_bytes,
                                                          training_bytes):
    spec = _dense_spec()
    inference = energy.dense_counts(spec, "inference", batch=batch)
    training = energy.dense_counts(spec, "training", batch=batch)
    # inference: 20 + 10 x 2 x 12 = 260 MACs; activations 10 x (4 + 3)
    assert inference["macs"].sum() == 260
    assert inference["activations"].sum() == 70
    # bytes: weights 4 x (20 + 10 x 12) / batch, states 2 x 4 x (4 + 3) x 10
    assert inference["bytes"].sum() == pytest.approx(inference_bytes, rel=1e-12)
    # training (14 steps): 20 + 14 x 24 + 3 x (20 + 12) + (4 + 3) = 459 MACs
    assert training["macs"].sum() == 459
    assert training["activations"].sum() == 98
    # weights 4 x (20 + 14 x 12) / batch + 8 x (20 + 12) / batch, states 8 x 7 x 14
    assert training["bytes"].sum() == pytest.approx(training_bytes, rel=1e-12)


def test_conventional_energy_is_macs_activations_and_bytes_times_constants():
    spec = _dense_spec()
    gpu = energy.Device("g", "conventional", mac=11.0, byte=13.0)
    dense = energy.dense_counts(spec, "training", batch=1)
    joules = energy.device_energy(gpu, energy.spiking_counts(spec, np.zeros((3, 3)),
                                                             "training"), dense, "training")
    # 11 x 459 MACs, 11 x 98 activations, 13 x 1792 bytes
    assert {k: float(v.sum()) for k, v in joules.items()} == pytest.approx(
        {"macs": 5049.0, "activations": 1078.0, "memory": 23296.0}, rel=1e-12)
