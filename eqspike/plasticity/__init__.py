"""Plasticity: the EqSpike rule and its variants, STDP logging in training, the pairing protocol.

* :mod:`~eqspike.plasticity.rules`: the weight rules as Brian2 code strings (``eqspike``,
  ``end_of_phase``), with one-sided or symmetric nudging, and their scales;
* :mod:`~eqspike.plasticity.stdp_log`: which synapses to log, and every weight change of
  those synapses reconstructed from their neurons' spikes, with its Δt, in bounded memory;
* :mod:`~eqspike.plasticity.pairing`: the classic STDP pairing experiment run on
  eqspike's own trace and synapse code;
* :mod:`~eqspike.plasticity.window`: the ΔW-vs-Δt window, exponential fits, figures.
"""

from .rules import (APPLY_BIAS_UPDATE, NEURON_MODEL, WINDOW_RATE, RULES, UNBOUNDED, Pathway, Rule,
                    bias_scale, effective_beta, graded_pair, rule_for, rule_scales)

__all__ = ["Pathway", "Rule", "graded_pair", "RULES", "UNBOUNDED", "NEURON_MODEL", "WINDOW_RATE", "APPLY_BIAS_UPDATE",
           "bias_scale", "effective_beta", "rule_for", "rule_scales"]
