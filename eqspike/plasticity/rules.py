"""The EqSpike local weight rule and its variants, as Brian2 code strings.

Reference: Martin, E., Ernoult, M., Laydevant, J., Li, S., Querlioz, D., Petrisor, T. &
Grollier, J. "EqSpike: spike-driven equilibrium propagation for neuromorphic
implementations." iScience 24, 102222 (2021). Rate-based EP: Scellier & Bengio (2017);
symmetric nudging: Laborieux et al. (2021).

What every rule estimates
-------------------------
Equilibrium Propagation updates a weight by

    ΔW_ij = (η / β) · (ρ_i^β ρ_j^β − ρ_i^0 ρ_j^0)                                  (EP)

where ρ^0 are the rates at the free fixed point and ρ^β those at the nudged one. Symmetric
nudging (``[phases] nudging = "symmetric"``) runs a −β and a +β phase, both from the free
state, and uses

    ΔW_ij = (η / 2β) · (ρ_i^{+β} ρ_j^{+β} − ρ_i^{−β} ρ_j^{−β}),                    (EP±)

which cancels the O(β) bias of (EP). Both are one formula: a *positive* window (σ = +1: the
+β phase) minus a *negative* window (σ = −1: the last T_w = T2 free steps one-sided, the −β
phase symmetric), divided by β_eff = β (one-sided) or 2β (symmetric); see
:func:`effective_beta`. The phase sign σ(t) is a global broadcast, like a neuromodulator,
held by every neuron as ``learn`` (0 outside the windows and in evaluation samples).

Rule ``eqspike`` (default): spike-driven products of traces
-----------------------------------------------------------
Each neuron keeps a trace ``x`` of its own spikes (``x ← x(1 − 1/τ)`` every step,
``x += 1/τ`` on a spike), an estimate of its rate. Every synapse accumulates a signed Hebbian
signal, driven by spikes only:

    on a presynaptic spike:   H_ij += σ(t) · x_i        (x of the postsynaptic neuron)
    on a postsynaptic spike:  H_ij += σ(t) · x_j        (x of the presynaptic neuron)

A synapse reads a trace after that step's decay and before that step's spike, whose mean is
(1 − 1/τ)·ρ; so over a window of T_w steps E[Σ s_j x_i + s_i x_j] ≈ 2 T_w (1 − 1/τ) ρ_i ρ_j,
and at the end of each sample the weight moves by

    ΔW_ij = η / (2 β_eff T_w (1 − 1/τ)) · H_ij ≈ (EP) or (EP±),                  (EqSpike)

and the bias of neuron i, whose signal counts its own spikes (H_i += σ(t) per spike), by
Δb_i = η_b / (β_eff T_w) · H_i ≈ (η_b / β_eff)(ρ_i^+ − ρ_i^−).

As a spike-timing rule: a pair of spikes (pre at t_j, post at t_i, Δt = t_i − t_j ≠ 0) in
one window adds σ · (1/τ)(1 − 1/τ)^{|Δt|} to H_ij, whichever comes first: the rule's own pair
kernel is symmetric in Δt, and its sign is the phase's. A timing asymmetry in what is
measured during training comes from the network (a presynaptic spike raises the
postsynaptic drive one step later), not from the rule; :mod:`eqspike.plasticity.pairing`
measures the kernel and :mod:`eqspike.plasticity.stdp_log` what training does.

Why the negative term is spike-triggered too: spike-triggered products carry the causal
correlation that a product of mean rates lacks. Measuring the negative window with the
*same* spike-triggered product over a window of the same length makes that bias (nearly)
identical in both terms, and it cancels in the difference. A free term taken as a snapshot
of the traces does not cancel it: hidden rates drift upward and learning stalls (measured in
the prototype: 78% vs 86% on 5k MNIST samples). Applying the accumulated change once per
sample, rather than at every spike, avoids the positive feedback that diverged at rate-EP
learning rates.

Rule ``end_of_phase``: the non-continual ablation
-------------------------------------------------
Each neuron counts its spikes in the negative and in the positive window (n⁻, n⁺); at the
end of the sample

    ΔW_ij = η / (β_eff T_w²) · (n_i⁺ n_j⁺ − n_i⁻ n_j⁻),      Δb_i = η_b / (β_eff T_w) · (n_i⁺ − n_i⁻).

This is EP evaluated at the end of each phase from spike counts: the synapse must wait for
both windows' totals, so the rule is local in space but not in time, and it carries no
spike-timing information at all (its kernel is flat over each window).

Everything is local in space: a synapse reads only its own state, the two neurons it joins
and the broadcast σ(t). Names ending in ``_pre`` and ``_post`` are the neurons' variables;
``learn_post`` is σ(t) read through the postsynaptic neuron.

The learning-rate schedule (the third variant a researcher compares) is η_e = η·decay^e for
epoch e (0-based), ``[learning] decay``; :meth:`eqspike.engine.Engine.learning_rates`
applies it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Rule", "RULES", "UNBOUNDED", "NEURON_MODEL", "ON_SPIKE", "APPLY_BIAS_UPDATE",
           "effective_beta", "bias_scale", "rule_for", "rule_scales"]

#: ``w_max`` when no bound is set (finite: it travels on the standalone command line).
UNBOUNDED = 1e300

#: Per-neuron state shared by every rule: the bias signal and the broadcast σ(t).
#: ``lr_b`` = η_b / (β_eff T_w), see :func:`bias_scale`.
NEURON_MODEL = """
hebb_b : 1                   # H_i, the phase-signed spike count
lr_b : 1 (shared)            # eta_b / (beta_eff T_w)
learn = learn_sign(t) : 1 (shared)
"""

#: Added to the neuron's reset code (its own spike).
ON_SPIKE = "hebb_b += learn"

#: Run once per sample, at its boundary, on the neurons (before their state is reset).
APPLY_BIAS_UPDATE = "b += lr_b * hebb_b\nhebb_b = 0"


@dataclass(frozen=True)
class Rule:
    """One weight rule: its Brian2 strings and the scale that turns its signal into ΔW.

    ``synapse_model``: per-synapse state; ``on_pre`` / ``on_post``: added to the synapse's
    pathways (empty: the rule needs no spike); ``apply``: run on the synapses at each sample
    boundary; ``neuron_model`` / ``on_spike`` / ``reset``: extra per-neuron state, code run
    on each spike, and the reset at the boundary (after ``apply``), for every layer,
    input included; ``input_model``: what the input layer needs besides that.
    """

    name: str
    synapse_model: str
    on_pre: str
    on_post: str
    apply: str
    neuron_model: str = ""
    on_spike: str = ""
    reset: str = ""
    input_model: str = ""
    spike_driven: bool = True

    def weight_scale(self, eta: float, beta_eff: float, window_steps: int,
                     tau_trace: float) -> float:
        """The factor ``lr_w`` that turns the synapse's signal into the EP weight update."""
        if self.name == "eqspike":
            # (1 − 1/τ): the mean of a trace as a synapse reads it, relative to the rate
            return eta / (2.0 * beta_eff * window_steps * (1.0 - 1.0 / tau_trace))
        return eta / (beta_eff * window_steps ** 2)


_SYNAPSE_SCALARS = """
lr_w : 1 (shared)            # see Rule.weight_scale
w_max : 1 (shared)           # |w| <= w_max after every update
"""

RULES = {
    "eqspike": Rule(
        name="eqspike",
        synapse_model="hebb : 1  # H_ij, the phase-signed spike-triggered Hebbian signal\n"
                      + _SYNAPSE_SCALARS,
        on_pre="hebb += learn_post * x_post",
        on_post="hebb += learn_post * x_pre",
        apply="w = clip(w + lr_w * hebb, -w_max, w_max)\nhebb = 0",
    ),
    "end_of_phase": Rule(
        name="end_of_phase",
        synapse_model=_SYNAPSE_SCALARS,
        on_pre="",
        on_post="",
        apply="w = clip(w + lr_w * (n_plus_pre * n_plus_post - n_minus_pre * n_minus_post),"
              " -w_max, w_max)",
        neuron_model="n_minus : 1  # spikes in the negative window\n"
                     "n_plus : 1   # spikes in the positive window\n",
        on_spike="n_minus += int(learn < 0)\nn_plus += int(learn > 0)",
        reset="n_minus = 0\nn_plus = 0",
        input_model="learn = learn_sign(t) : 1 (shared)\n",
        spike_driven=False,
    ),
}


def rule_for(spec) -> Rule:
    """The :class:`Rule` a network definition selects (``[learning] rule``)."""
    return RULES[spec.learning.rule]


def effective_beta(spec) -> float:
    """β_eff: β for one-sided nudging, 2β for symmetric (+β, −β) nudging."""
    return spec.phases.beta * spec.nudged_phases


def bias_scale(eta: float, beta_eff: float, window_steps: int) -> float:
    """η_b / (β_eff T_w): turns the accumulated spike count H_i into the EP bias update."""
    return eta / (beta_eff * window_steps)


def rule_scales(spec, epoch: int = 0) -> tuple[list, list]:
    """``lr_w`` per layer pair and ``lr_b`` per non-input layer for ``epoch`` (0-based) of the
    schedule η_e = η · decay^e: what the rule multiplies its signals by."""
    learning = spec.learning
    factor = learning.decay ** epoch
    beta, window = effective_beta(spec), spec.phases.nudge_steps
    rule = rule_for(spec)
    lr_w = [rule.weight_scale(e * factor, beta, window, spec.spiking.tau_trace)
            for e in learning.rates]
    lr_b = [bias_scale(e * factor, beta, window) for e in learning.bias_rates]
    return lr_w, lr_b
