"""Rate-based Equilibrium Propagation in NumPy: the reference path of eqspike.

The spiking network of :mod:`eqspike.spiking` approximates, with spike rates, the
discrete-time rate dynamics held here (Ernoult et al., NeurIPS 2019). This first version
covers dense layered networks (:mod:`eqspike.reference.hopfield`): the primitive Φ, the
free and nudged phases, and the one-sided EP update, batched.
"""

from .hopfield import ACTIVATIONS, DenseHopfield, ep_update

__all__ = ["ACTIVATIONS", "DenseHopfield", "ep_update"]
