"""eqspike: spiking Equilibrium Propagation (EqSpike, Martin et al., iScience 2021) in Brian2.

The four parts of the library, each in one module:

* :mod:`eqspike.spiking` -- the spiking network (Brian2 groups and shared synapses);
* :mod:`eqspike.plasticity` -- the EqSpike rule and its variants, STDP logging, the pairing
  protocol and the STDP window;
* :mod:`eqspike.energy` -- energy accounting: event counts to joules, devices, GPU baseline;
* :mod:`eqspike.reference` -- rate-based EP in NumPy (dense, conv and skip couplings, EP
  estimators, BPTT, the GDU check), the reference path.

A run goes ``networks/NAME.toml`` -> :func:`eqspike.spec.load_network` ->
:mod:`eqspike.training` (which drives :mod:`eqspike.engine`) -> an HDF5 run file
(:mod:`eqspike.runfile`), which every analysis reads back.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
