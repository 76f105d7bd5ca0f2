"""The phase schedule: what each step and each sample of a chunk does.

The model's vocabulary of time, shared by the Brian2 builder (:mod:`eqspike.spiking`), the
engines, the energy accounting and the analyses; it knows nothing of Brian2.

Every sample lasts S = T1 + T2 steps (one-sided nudging: a free phase of T1 steps, then a
+β phase of T2 steps; Scellier & Bengio 2017, in the discrete-time form of Ernoult et al.
2019) or S = T1 + 2 T2 (symmetric nudging, Laborieux et al. 2021: the free phase, a −β
phase, then a +β phase that starts again from the free state). A chunk of samples runs back
to back, and what changes from step to step is a per-step signal (one value per step, plus
one padding step at the end of the chunk, in which the last sample's update is applied):

* ``phase``: 0 free, 1 nudged, 2 idle (the unused nudged slots of an evaluation sample);
* ``nudge``: the sign ν(t) of the nudge: +1 in the +β phase, −1 in the −β phase, else 0;
* ``learn_sign``: the rule's σ(t): +1 in the +β phase, −1 in the negative window (the last
  T2 free steps one-sided, if the rule has a free window; the −β phase symmetric), else 0;
* ``readout``: 1 in the readout window, the last ``readout_steps`` free steps;
* ``snapshot`` / ``restore`` (symmetric nudging only): 1 at the step whose start saves the
  free state, and at the step whose start restores it;
* ``onset`` / ``offset`` (graded input only): a sample's first step, and the step after a
  training sample (the input's events);
* ``alpha_scale`` (``[phases] nudge_anneal`` < 1): the step size's factor
  (:func:`nudge_step_scale`);
* ``logging`` (only with STDP logging): 1 in every step of a training sample;
* ``theta`` (the delta code only): the threshold a change of ρ must reach to be sent,
  ``[spiking] delta_theta`` in free steps, ``delta_theta_nudged`` in nudged ones, and 0 at
  the last step of every phase with ``delta_flush`` (:func:`delta_thresholds`);
* ``trained`` (``[synapses] decay`` > 0): 1 at the first step after each training sample,
  the boundary where its update (and the weights' decay) is applied.

A build that only evaluates (``free_only``: :func:`sample_steps`) has samples of the T1
free steps alone, no nudged slots to idle through: what evaluation and inference run.

Per-sample signals (one row per sample: ``stimulus``, the pixel rates; ``target``, the
one-hot labels) get one padding row (:func:`padded_sample_signal`). A sample is of one of
three kinds (:data:`SAMPLE_TRAIN`, :data:`SAMPLE_EVAL`, :data:`SAMPLE_PAD`), and the event
counters split its spikes into the parts of :data:`EVENT_PHASES`.
"""

from __future__ import annotations

import numpy as np

from .rules import rule_for
from .spec import NetworkSpec

__all__ = ["PHASE_FREE", "PHASE_NUDGED", "PHASE_IDLE", "SAMPLE_TRAIN", "SAMPLE_EVAL",
           "SAMPLE_PAD", "EVENT_PHASES", "phase_signals", "nudge_step_scale", "delta_thresholds",
           "sample_steps",
           "padded_sample_signal"]

PHASE_FREE, PHASE_NUDGED, PHASE_IDLE = 0, 1, 2
#: What a sample does: train (free, nudged, learn), evaluate (free only), or pad a chunk.
SAMPLE_TRAIN, SAMPLE_EVAL, SAMPLE_PAD = 1, 0, -1
#: The parts of a sample that the event counters distinguish (in this order): free steps
#: where σ = 0, the negative window (σ = −1: the free window, or the −β phase), and the
#: positive window (σ = +1: the +β phase).
EVENT_PHASES = ("free_quiet", "free_window", "nudged")


def sample_steps(spec: NetworkSpec, free_only: bool = False) -> int:
    """Steps per sample: T1 + T2 or T1 + 2 T2 (:attr:`~eqspike.spec.NetworkSpec.steps_per_sample`),
    or T1 in a build that only evaluates (``free_only``)."""
    return spec.phases.free_steps if free_only else spec.steps_per_sample


def phase_signals(spec: NetworkSpec, kinds: np.ndarray, logging: bool = False,
                  free_only: bool = False) -> dict:
    """The per-step signals for a chunk of samples of the given ``kinds`` (SAMPLE_*).

    Returns float arrays of length n·S + 1 for ``phase``, ``nudge``, ``learn_sign`` and
    ``readout``; with symmetric nudging also ``snapshot`` and ``restore``; with a graded input
    also ``onset`` (1 at each sample's first step) and ``offset`` (1 at the step that follows
    a training sample); with ``logging`` also ``logging``; with ``[phases] nudge_anneal``
    = a < 1 also ``alpha_scale``, the step size's factor: 1 − (1 − a) n/(T2 − 1) at the
    n-th step of each nudged phase of a training sample (n = 0..T2 − 1), 1 elsewhere.

    An evaluation sample is free for T1 steps, then idle (no nudge, no learning); a padding
    sample is idle throughout (its spikes are not counted, it has no readout). With
    ``free_only`` every sample is T1 steps long and none may train (no snapshot, restore,
    offset, logging or step-size signals: such a build has no nudged steps).
    """
    t1, t2 = spec.phases.free_steps, spec.phases.nudge_steps
    if free_only and np.any(np.asarray(kinds) == SAMPLE_TRAIN):
        raise ValueError("a free-phase-only build evaluates; it cannot train a sample")
    symmetric = spec.nudged_phases == 2 and not free_only
    steps = sample_steps(spec, free_only)
    step_phase = np.r_[np.full(t1, PHASE_FREE), np.full(steps - t1, PHASE_NUDGED)]
    step_nudge = np.zeros(steps)
    step_sign = np.zeros(steps)
    if symmetric:               # free | -beta | +beta (from the free state)
        step_nudge[t1:t1 + t2] = step_sign[t1:t1 + t2] = -1.0
        step_nudge[t1 + t2:] = step_sign[t1 + t2:] = 1.0
    else:                       # free (last T2 steps: negative window) | +beta
        if rule_for(spec).free_window:
            step_sign[t1 - t2:t1] = -1.0
        step_nudge[t1:] = step_sign[t1:] = 1.0
    step_readout = np.zeros(steps)
    step_readout[t1 - spec.spiking.readout_steps:t1] = 1.0

    kinds = np.asarray(kinds)[:, None]
    train = kinds == SAMPLE_TRAIN
    eval_phase = np.where(step_phase == PHASE_NUDGED, PHASE_IDLE, PHASE_FREE)
    phase = np.where(train, step_phase,
                     np.where(kinds == SAMPLE_EVAL, eval_phase, PHASE_IDLE))

    def flat(a, pad=0.0):
        a = np.broadcast_to(np.asarray(a, dtype=float), (len(kinds), steps))
        return np.r_[a.ravel(), pad]

    out = {"phase": flat(phase, PHASE_IDLE), "nudge": flat(train * step_nudge),
           "learn_sign": flat(train * step_sign),
           "readout": flat((kinds != SAMPLE_PAD) * step_readout)}
    if symmetric:
        marks = np.zeros((2, steps))
        marks[0, t1] = marks[1, t1 + t2] = 1.0
        out["snapshot"], out["restore"] = flat(train * marks[0]), flat(train * marks[1])
    if spec.spiking.input_code == "graded":
        first = np.zeros(steps)
        first[0] = 1.0
        out["onset"] = flat((kinds != SAMPLE_PAD) * first)
        # at the first step after each training sample (the padding step after the last)
        out["offset"] = np.zeros(len(kinds) * steps + 1)
        out["offset"][steps::steps] = train[:, 0]
    if logging and not free_only:
        out["logging"] = flat(train * np.ones(steps))
    if spec.spiking.code == "delta":
        out["theta"] = flat(delta_thresholds(spec, phase), spec.spiking.delta_theta)
    if spec.synapses.decay:             # the weights' decay acts at a training update only
        out["trained"] = np.zeros(len(kinds) * steps + 1)
        out["trained"][steps::steps] = train[:, 0]
    if spec.phases.nudge_anneal != 1.0 and not free_only:    # α falls over each nudged phase
        scale = np.ones(steps)
        for start in range(t1, steps, t2):
            scale[start:start + t2] = nudge_step_scale(spec)
        out["alpha_scale"] = flat(np.where(train, scale, 1.0), 1.0)
    return out


def delta_thresholds(spec: NetworkSpec, phase: np.ndarray) -> np.ndarray:
    """The delta code's threshold θ at every step of samples whose steps are in ``phase``
    (samples × steps, PHASE_*): ``delta_theta`` in free and idle steps, ``delta_theta_nudged``
    in nudged ones; with ``delta_flush``, 0 at the last step of each phase (the free phase
    and each nudged phase of T2 steps), where every neuron then sends its residual."""
    sp = spec.spiking
    theta = np.where(phase == PHASE_NUDGED, sp.delta_theta_nudged, sp.delta_theta)
    if sp.delta_flush:
        t1, t2 = spec.phases.free_steps, spec.phases.nudge_steps
        last = [t1 - 1] + list(range(t1 + t2 - 1, phase.shape[1], t2))
        theta[:, last] = np.where(phase[:, last] == PHASE_IDLE, theta[:, last], 0.0)
    return theta


def nudge_step_scale(spec: NetworkSpec) -> np.ndarray:
    """The step size's factor at the n-th step of a nudged phase, ``[phases] nudge_anneal``
    = a: 1 − (1 − a) n/(T2 − 1), n = 0..T2 − 1 (a alone when T2 = 1)."""
    t2, anneal = spec.phases.nudge_steps, spec.phases.nudge_anneal
    return np.linspace(1.0, anneal, t2) if t2 > 1 else np.full(1, anneal)


def padded_sample_signal(a: np.ndarray) -> np.ndarray:
    """Append one all-zero sample: a TimedArray holds its last value past its end."""
    a = np.asarray(a, dtype=float)
    return np.vstack([a, np.zeros((1, a.shape[1]))])
