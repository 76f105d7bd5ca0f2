"""Plasticity analyses: what a learning rule does, measured.

The rules themselves are part of the model and live in :mod:`eqspike.rules`; this package
analyses them:

* :mod:`~eqspike.plasticity.stdp_log`: which synapses to log, and every weight change of
  those synapses reconstructed from their neurons' spikes, with its Δt, in bounded memory;
* :mod:`~eqspike.plasticity.pairing`: the classic STDP pairing experiment run on
  eqspike's own trace and synapse code;
* :mod:`~eqspike.plasticity.window`: the ΔW-vs-Δt window, exponential fits, figures.

Importing the package loads none of them (each imports Brian2 or matplotlib where used).
"""

__all__: list = []
