"""Plasticity: the EqSpike rules and their variants, STDP logging in training, the pairing protocol.

* :mod:`~eqspike.plasticity.rules`: the weight rules as Brian2 code strings (``eqspike``,
  ``end_of_phase``, ``continual``), with one-sided or symmetric nudging, and their scales.
  They are part of the model: :mod:`eqspike.spiking` builds them into the network, and
  importing this package loads nothing else;
* :mod:`~eqspike.plasticity.stdp_log`: which synapses to log, and every weight change of
  those synapses reconstructed from their neurons' spikes, with its Δt, in bounded memory;
* :mod:`~eqspike.plasticity.pairing`: the classic STDP pairing experiment run on
  eqspike's own trace and synapse code;
* :mod:`~eqspike.plasticity.window`: the ΔW-vs-Δt window, exponential fits, figures.
"""

from .rules import (APPLY_BIAS_UPDATE, NEURON_MODEL, RULES, UNBOUNDED, WINDOW_RATE, Pathway,
                    Rule, effective_beta, graded_pair, read_mean, rule_for, rule_scales)

__all__ = ["Pathway", "Rule", "RULES", "UNBOUNDED", "NEURON_MODEL", "WINDOW_RATE",
           "APPLY_BIAS_UPDATE", "effective_beta", "graded_pair", "read_mean", "rule_for",
           "rule_scales"]
