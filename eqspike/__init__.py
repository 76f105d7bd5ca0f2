"""eqspike: spiking Equilibrium Propagation (EqSpike, Martin et al., iScience 2021) in Brian2.

The four parts of the library, each in one module:

* :mod:`eqspike.spiking` -- the spiking network (Brian2 groups and shared synapses);
* :mod:`eqspike.plasticity` -- the EqSpike local weight rule (equation strings);
* :mod:`eqspike.energy` -- energy accounting (planned);
* :mod:`eqspike.reference` -- rate-based EP, the reference path (planned).

A run goes ``networks/NAME.toml`` -> :func:`eqspike.spec.load_network` ->
:mod:`eqspike.training` (which drives :mod:`eqspike.engine`) -> an HDF5 run file
(:mod:`eqspike.runfile`), which every analysis reads back.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
