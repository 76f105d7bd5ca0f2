"""Energy accounting: counted events times per-event energies, against a GPU baseline.

The estimate comes from events that happened: each run file holds, per epoch, the mean
number of spikes per sample of every layer in each part of a sample (counted inside the
compiled simulation; see :mod:`eqspike.spiking`). From those and the network's graph
(dense, all-to-all edges, skip couplings included) eqspike derives, per sample and per edge
p → q of the graph:

=====================  ===========================================================
spikes                 S_l^p: counted (layer l, part p: free_quiet, free_window, nudged)
synaptic events        a spike delivered to each target, both directions of a shared
                       synapse: S_p · n_q upward, S_q · n_p downward (p ≥ 1: the
                       clamped input receives nothing)
neuron updates         n_l per step, every layer (rate-coded input encoders included; a
                       graded input neuron loads its value once per sample)
plasticity events      the rule firing at a spike: S_p · n_q and/or S_q · n_p for the
                       spikes of the learning windows (free_window and nudged), on the sides
                       where the rule has spike code (:func:`spiking_counts`)
weight writes          the once-per-sample application, n_p · n_q per edge (+ biases,
                       charged to the first edge into each layer); with a graded input,
                       n_q per input event instead
trace updates          one jump per spike (S_l; a graded input keeps no trace); the per-step
                       decay is part of the neuron update, and the jump is charged with it
                       (no device lists it apart)
=====================  ===========================================================

An *inference* is an evaluation sample's free phase (T1 steps; counts from the test set);
a *training sample* is T1 + T2 steps (counts from the training samples).

The GPU baseline runs the same network with the rate-based reference as dense arithmetic
(:mod:`eqspike.reference`), batched (``batch`` samples share each weight read):

* inference: the input drive x·W once per edge from the input, then per free step, for
  every other edge, the upward and downward products (2 n_p n_q MACs) and one activation per
  neuron;
* training: the same over T1 + T2 steps, plus the EP update: two outer products and the
  weight update (3 n_p n_q per edge) and the biases;
* memory: each weight read once per step per batch, states read and written per step
  (4 bytes per value), weight update read-modify-write once per batch.

Energy = Σ counts × the device's per-event constants (``devices.toml``, each with its
source; a constant no source publishes is ``nan`` and leaves its category unpriced, the
total then a lower bound). An ``in_memory`` device (an analog crossbar) prices the dense
arithmetic per MAC with no weight traffic; a ``measured`` device is a baseline measured on
a real machine (:mod:`eqspike.energy.baseline`), and :mod:`eqspike.energy.levers` and
:mod:`eqspike.energy.curve` ask what it would take to reach EqSpike's ratios. **Not counted**, for any device: static (leakage) power and idle time, off-chip I/O
(loading images, reading results), host control, routing beyond one hop, and the compile
step. These omissions favour the neuromorphic side, whose static power dominates at low
activity; the GPU's per-op constants (Degnan et al. 2015) include its memory system.

The package, one module per concern: :mod:`~eqspike.energy.devices` (the devices and
their sources), :mod:`~eqspike.energy.counts` (events per sample, spiking and dense),
:mod:`~eqspike.energy.report` (energy per device, the ratio, the table and bar chart),
:mod:`~eqspike.energy.baseline` (a baseline measured on this machine),
:mod:`~eqspike.energy.levers` (what each lever must reach for a given ratio) and
:mod:`~eqspike.energy.curve` (accuracy and energy against the free-phase length; it runs
the spiking network, so it is imported only where used). The names below are the package's
public API.
"""

from .counts import dense_counts, learning_parts, spiking_counts
from .devices import (DEVICES, ENERGY_FIELDS, PRESETS_FILE, Device, EnergyError, load_devices,
                      register_device)
from .report import (ASSUMPTIONS, EnergyReport, compare_table, device_energy, energy_report,
                     plot_report, resolve_devices, unpriced)

__all__ = ["Device", "DEVICES", "EnergyError", "register_device", "load_devices",
           "spiking_counts", "dense_counts", "learning_parts", "device_energy", "unpriced",
           "EnergyReport", "resolve_devices", "energy_report", "plot_report", "ASSUMPTIONS",
           "compare_table",
           "ENERGY_FIELDS", "PRESETS_FILE"]
