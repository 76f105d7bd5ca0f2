"""eqspike: spiking Equilibrium Propagation (EqSpike, Martin et al., iScience 2021) in Brian2.

One network description, two engines, one training loop:

* :mod:`eqspike.spec` -- the network file: one graph (layers, shapes, dense and conv edges,
  skip couplings) that both engines read; :mod:`eqspike.schedule` and
  :mod:`eqspike.rules` -- the model's vocabulary (the phases of a sample, the learning
  rules); :mod:`eqspike.parameters` -- the one initialiser; :mod:`eqspike.conv` -- a conv
  edge's taps (which neuron reaches which through which kernel entry);
* :mod:`eqspike.spiking` and :mod:`eqspike.engine` -- the Brian2 builder (a piece per layer
  kind and edge kind) and its compiled engine;
* :mod:`eqspike.reference` -- rate-based EP in NumPy (dense, conv and skip couplings, EP
  estimators, BPTT, the GDU check), the reference the spiking engine is held to;
* :mod:`eqspike.training` -- the one epoch loop and each engine's trainer;
* :mod:`eqspike.energy` -- energy accounting: event counts to joules, devices, baselines;
* :mod:`eqspike.plasticity` -- analyses of the rules: STDP logging, the pairing protocol,
  the STDP window.

A run goes ``networks/NAME.toml`` -> :func:`eqspike.spec.load_network` ->
:func:`eqspike.training.train` (which drives an engine) -> an HDF5 run file
(:mod:`eqspike.runfile`), which every analysis reads back. Expected failures raise
:class:`eqspike.errors.EqspikeError`.
"""

__version__ = "0.2.0"
__all__ = ["__version__"]
