"""The rate reference: discrete-time EP in NumPy, the exact path the spiking one is held to.

* :mod:`~eqspike.reference.edges`: dense and convolutional couplings (skip couplings are
  edges between non-adjacent layers);
* :mod:`~eqspike.reference.network`: the primitive Φ, the prototypical and primitive
  dynamics, the nudges (squared error, cross-entropy read-out), reverse mode through a step;
* :mod:`~eqspike.reference.learning`: EP estimators (one-sided, random sign, symmetric,
  continual), BPTT, SGD with momentum and Adam;
* :mod:`~eqspike.reference.gdu`: the GDU check (EP's updates against BPTT, step by step).

Training it into a run file (``eqspike train`` with a ``[network] path = "rate"``
definition) is the one training loop's (:mod:`eqspike.training.rate`).
"""

from .network import ACTIVATIONS, HopfieldNetwork, init_params, spiking_twin

__all__ = ["ACTIVATIONS", "HopfieldNetwork", "init_params", "spiking_twin"]
