"""The spiking EP network in Brian2: a :class:`~eqspike.spec.NetworkSpec` becomes groups and synapses.

Time is discrete: one Brian2 step of ``dt`` is one EP step. Every sample lasts
S = T1 + T2 steps: a free phase of T1 steps, then a nudged phase of T2 steps (Scellier &
Bengio 2017; discrete-time form of Ernoult et al. 2019). With symmetric nudging
(Laborieux et al. 2021) S = T1 + 2 T2: the free phase, a −β phase, then a +β phase that
starts again from the free state (every neuron's u, I, x and code accumulator are saved at
the end of the free phase and restored when the +β phase begins). Many samples run back to back in
one simulation; what changes from step to step and from sample to sample is supplied by
:class:`~brian2.TimedArray` signals, so one compiled build serves every chunk of data.

Neuron model (every non-input layer), per step, ``α = 1/tau_u``::

    u ← u + α (I + b + β ν(t) (y − ρ(u)) − u)      # ν(t) = ±1 in a nudged phase, output only
                                                    # α annealed in a nudged phase, if asked
    I ← 0                                           # I: the weighted spikes of the last step
    x ← x (1 − 1/τ_x)                               # spike trace, rate estimate
    sigma-delta code:  a ← a + ρ(u);  spike when a ≥ 1, then a ← a − 1
    Bernoulli code:    spike with probability ρ(u)

with ρ the hard sigmoid clip(u, 0, 1). A spike of neuron j adds w_ij to I_i of every neuron
it is coupled to, in both directions through ONE :class:`~brian2.Synapses` object per layer
pair (``on_pre`` feeds the upper layer, ``on_post`` feeds the lower one): the symmetric
coupling EP requires, with one weight per pair. The input layer is clamped: its neurons emit
the pixel rates in the same code and receive nothing. Averaged over time, u settles near
the EP fixed point W ρ + b of the rate dynamics s ← ρ(W s + b), which is what the spike
rates code.

At each sample boundary (run_regularly, ``when='start'``) the learning rule of
:mod:`eqspike.rules` (``[learning] rule``) applies its accumulated update on the
synapses (order 1), then the neurons apply theirs and every state is reset (order 2)
(u = I = x = 0, a = 1/2). The output's readout count (spikes in the last ``readout_steps``
free steps) is recorded by a :class:`~brian2.StateMonitor` just before that reset, so the
monitor holds one row per sample of the chunk and never grows with the run.

What changes from step to step and from sample to sample (the phase schedule: per-step
signals such as ``phase``, ``nudge``, ``learn_sign``, ``readout``; per-sample ``stimulus`` and
``target``) is defined in :mod:`eqspike.schedule`; this module reads them as TimedArrays.

Two pieces exist for speed and measurement, not for the model. The input synapses' rule-only
``on_post`` pathway runs on a custom ``learning_spike`` event (a spike while σ(t) ≠ 0)
instead of every spike. Every neuron counts its own spikes per sample in the three parts of
:data:`EVENT_PHASES` (what :mod:`eqspike.energy` builds on), in its reset code; at each
sample boundary a summed variable totals them per layer and a StateMonitor records that.

With ``log_neurons`` (STDP logging, :mod:`eqspike.plasticity.stdp_log`) the flagged
neurons' spikes in training samples raise a ``logged_spike`` event that an EventMonitor per
layer records; a chunk's monitors hold only that chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .rules import NEURON_MODEL, UNBOUNDED, graded_pair, rule_for
from .schedule import EVENT_PHASES, SAMPLE_TRAIN, padded_sample_signal, phase_signals
from .spec import NetworkSpec

__all__ = ["SpikingNetwork", "build_network"]

#: State of a non-input neuron. ``count`` only matters in the output layer.
NEURON_STATE = """
u : 1                        # state: low-pass estimate of the EP drive W rho + b
I : 1                        # weighted spikes received in the last step
b : 1                        # bias
x : 1                        # spike trace (rate estimate)
sd : 1                       # sigma-delta accumulator
coin : 1                     # this step's uniform draw (Bernoulli code)
count : 1                    # readout spikes of the current sample
rho = clip(u, 0, 1) : 1      # the rate the neuron codes
phase_now = phase(t) : 1 (shared)
"""

#: State of an input neuron: it emits the pixel rate ``stimulus(t, i)``.
INPUT_STATE = """
rate = stimulus(t, i) : 1
rho = rate : 1
x : 1
sd : 1
coin : 1
count : 1
phase_now = phase(t) : 1 (shared)
"""

#: State of a graded input neuron (``input_code = "graded"``): the value it sends.
GRADED_INPUT_STATE = """
r : 1                        # this sample's value r_j (the pixel), loaded at the boundary
phase_now = phase(t) : 1 (shared)
"""
#: A graded input neuron acts only at sample boundaries, so its group (and the synapses of
#: its layer pair) run on the sample clock, one tick per sample, at the sample's first
#: step. There it loads its value and sends it as the payload of one event (``onset``), if
#: it is not zero. At the same tick, but before anything is reset for the new sample, it
#: sends a second event if the sample that just ended trained (``offset``): with it, its
#: synapses apply the rule's update (:data:`eqspike.rules.GRADED_APPLY`),
#: reading its value and the post neuron's window signal H_i of that sample.
GRADED_INPUT_LOAD = "r = stimulus(t, i)"
GRADED_THRESHOLD = "onset(t) > 0 and r > 0"
GRADED_SAMPLE_END = "offset(t) > 0 and r > 0"
#: (when, order) of the ``sample_end`` event's thresholder and pathway: at the boundary,
#: before the synapses' apply (order 1) and the neurons' reset (order 2) of the new sample.
SAMPLE_END_SCHEDULE = {"thresholder": ("start", -3), "pathway": ("start", -2)}
#: Receiving a graded event: the post neuron holds w r_j as input drive for the sample.
GRADED_ON_PRE = "Ix_post += w * r_pre"
#: The held drive of a layer that receives a graded input.
GRADED_DRIVE_STATE = "Ix : 1                       # drive held from the graded input events\n"

#: One step of a hidden neuron (see the module docstring for the equations); ``{drive}``
#: is ``I`` plus, in a layer fed by a graded input, ``Ix``.
HIDDEN_STEP = "u += ({drive} + b - u) * {alpha}\nI = 0"
#: One step of an output neuron: the nudge β(y − ρ(u)) pulls it toward the target.
OUTPUT_STEP = ("u += ({drive} + b + beta * nudge(t) * (target(t, i) - clip(u, 0, 1)) - u)"
               " * {alpha}\nI = 0")
#: The step size: α, or with ``[phases] nudge_anneal`` < 1, α times the per-step signal
#: ``alpha_scale`` (see :func:`phase_signals`).
ALPHA = {"constant": "alpha", "annealed": "alpha * alpha_scale(t)"}
#: Symmetric nudging: the free state, saved at the start of the first nudged step and put
#: back at the start of the second nudged phase (code runs before the step's update).
REWIND_STATE = {"hidden": ("u", "I", "x", "sd"), "input": ("x", "sd")}
REWIND_STEP = "{v}_snap += snapshot(t) * ({v} - {v}_snap)\n{v} += restore(t) * ({v}_snap - {v})"
TRACE_STEP = "x *= trace_decay"
CODE_STEP = {
    "sigma_delta": {"hidden": "sd += clip(u, 0, 1)", "input": "sd += rate"},
    "bernoulli": {"hidden": "coin = rand()", "input": "coin = rand()"},
}
THRESHOLD = {
    "sigma_delta": {"hidden": "sd >= 1", "input": "sd >= 1"},
    "bernoulli": {"hidden": "coin < clip(u, 0, 1)", "input": "coin < rate"},
}
#: A spike emitted while the rule is listening (σ(t) ≠ 0). The input layer's synapses need a
#: hidden spike only for the rule (the clamped input receives no feedback), so their
#: ``on_post`` pathway runs on this event and skips the steps where σ(t) = 0.
LEARNING_SPIKE = "({threshold}) and learn != 0"
#: A flagged neuron's spike in a training sample (STDP logging).
LOGGED_SPIKE = "({threshold}) and logged > 0 and logging(t) > 0"
SPIKE = "x += 1 / tau_x\ncount += readout(t)"
SIGMA_DELTA_RESET = "sd -= 1"
#: Event counters. Each neuron counts its own spikes in the three parts of a sample (see
#: :data:`EVENT_PHASES`), in its reset code (so counting costs nothing at steps without a
#: spike); at each sample boundary a summed variable adds them up per layer into a
#: one-neuron-per-layer group, which a StateMonitor records before the counts are reset.
COUNT_STATE = """
n_quiet : 1                  # own spikes in free steps where the rule is silent (sigma = 0)
n_window : 1                 # own spikes in the negative window (sigma = -1)
n_nudged : 1                 # own spikes in the positive window (sigma = +1)
"""
COUNT_SPIKE = ("n_quiet += int(phase(t) == 0) * int(learn_sign(t) == 0)\n"
               "n_window += int(learn_sign(t) == -1)\n"
               "n_nudged += int(learn_sign(t) == 1)")
COUNT_RESET = "n_quiet = 0\nn_window = 0\nn_nudged = 0"
COUNTER_STATE = """
free_quiet : 1               # the layer's spikes in free steps where sigma = 0
free_window : 1              # ... in the negative window (sigma = -1)
nudged : 1                   # ... in the positive window (sigma = +1)
"""
COUNTER_SUMS = ("free_quiet_post = n_quiet_pre : 1 (summed)\n"
                "free_window_post = n_window_pre : 1 (summed)\n"
                "nudged_post = n_nudged_pre : 1 (summed)")
BOUNDARY_RESET = {"hidden": "u = 0\nI = 0\nx = 0\nsd = 0.5\ncount = 0",
                  "input": "x = 0\nsd = 0.5\ncount = 0", "graded": GRADED_INPUT_LOAD}


@dataclass
class SpikingNetwork:
    """The Brian2 objects of one build, and the handles the engine needs."""

    spec: NetworkSpec
    n_samples: int
    network: object           # brian2.Network
    layers: list              # NeuronGroup per layer, input first
    synapses: list            # Synapses per layer pair (l, l+1)
    signals: dict             # name -> TimedArray: stimulus, target, phase, learn_sign, readout
    readout_monitor: object   # StateMonitor of the output's ``count`` at sample boundaries
    event_monitor: object = None  # StateMonitor of the event counters (None: not counted)
    log_monitors: list = None     # EventMonitor of logged spikes per layer ([]: not logging)

    @property
    def duration_steps(self) -> int:
        """All samples, plus one step in which the last sample's update is applied."""
        return self.n_samples * self.spec.steps_per_sample + 1


def build_network(spec: NetworkSpec, n_samples: int, *, rates=None, targets=None,
                  kinds=None, weights=None, biases=None, count_events: bool = True,
                  log_neurons=None):
    """Create the Brian2 objects for ``n_samples`` samples of network ``spec``.

    Parameters
    ----------
    rates, targets : arrays (n_samples, n_in) and (n_samples, n_out), optional
        The chunk's pixel rates and one-hot targets; zeros when omitted (a standalone build
        gets its data through ``run_args``).
    kinds : int array (n_samples,), optional
        What each sample does (SAMPLE_TRAIN, SAMPLE_EVAL, SAMPLE_PAD); all train by default.
    weights, biases : lists of arrays, optional
        Initial W (n_pre, n_post) per layer pair and b per non-input layer; zeros if omitted.
    count_events : bool
        Count each layer's spikes per sample and phase (:data:`EVENT_PHASES`) inside the
        simulation: per-neuron counts in the reset code, totalled per layer at each sample
        boundary (a summed variable into a one-neuron-per-layer group).
        Off only to measure what counting costs.
    log_neurons : list of int arrays (one per layer), optional
        Neurons whose spikes in training samples are recorded for STDP logging
        (:mod:`eqspike.plasticity.stdp_log`); None: no logging objects at all.

    Returns
    -------
    SpikingNetwork

    Sets Brian2's ``core.default_float_dtype`` preference to the spec's ``precision``.
    """
    import brian2 as b2

    # a graded input's group and synapses run on the sample clock on purpose (see
    # GRADED_INPUT_LOAD): Brian2's note that their dt differs from the target's is expected
    b2.BrianLogger.suppress_name("synapses_dt_mismatch")
    b2.prefs.core.default_float_dtype = {"float64": np.float64,
                                         "float32": np.float32}[spec.spiking.precision]
    sizes = spec.layers
    n_in, n_out = sizes[0], sizes[-1]
    dt = spec.spiking.dt_ms * b2.ms
    sample_dt = spec.steps_per_sample * dt
    rates = np.zeros((n_samples, n_in)) if rates is None else rates
    targets = np.zeros((n_samples, n_out)) if targets is None else targets
    kinds = np.full(n_samples, SAMPLE_TRAIN) if kinds is None else kinds
    logging = log_neurons is not None
    steps = phase_signals(spec, kinds, logging=logging)
    rule = rule_for(spec)
    rewind = "snapshot" in steps

    signals = {
        "stimulus": b2.TimedArray(padded_sample_signal(rates), dt=sample_dt, name="stimulus"),
        "target": b2.TimedArray(padded_sample_signal(targets), dt=sample_dt, name="target"),
        **{k: b2.TimedArray(v, dt=dt, name=k) for k, v in steps.items()},
    }
    tau_x = spec.spiking.tau_trace
    namespace = {
        **signals,
        "alpha": 1.0 / spec.spiking.tau_u,
        "beta": spec.phases.beta,
        "tau_x": tau_x,
        "trace_decay": 1.0 - 1.0 / tau_x,
    }
    code = spec.spiking.code
    graded_input = spec.spiking.input_code == "graded"
    input_path = rule.pathway(graded_input, spec.learning.partner)
    layers, log_monitors = [], []
    partner = spec.learning.partner
    for index, size in enumerate(sizes):
        kind = "hidden" if index else ("graded" if graded_input else "input")
        if kind == "graded":
            model = GRADED_INPUT_STATE + rule.input_model
            reset, step, threshold = [], [], GRADED_THRESHOLD
        else:
            model = (INPUT_STATE + rule.input_model if kind == "input"
                     else NEURON_STATE + NEURON_MODEL)
            model += rule.neuron_model
            reset = [SPIKE] + ([SIGMA_DELTA_RESET] if code == "sigma_delta" else [])
            reset += [rule.on_spike] if rule.on_spike else []
            step, threshold = [], THRESHOLD[code][kind]
        boundary = [BOUNDARY_RESET[kind]] + ([rule.reset] if rule.reset and kind != "graded"
                                             else [])
        if count_events:
            model += COUNT_STATE
            reset.append(COUNT_SPIKE)
            boundary.append(COUNT_RESET)
        if rewind and kind != "graded":
            names = REWIND_STATE[kind] + rule.rewind
            model += "".join(f"{v}_snap : 1\n" for v in names)
            step += [REWIND_STEP.format(v=v) for v in names]
        if kind == "hidden":
            fed_graded = index == 1 and graded_input
            drive = "I + Ix" if fed_graded else "I"
            if fed_graded:
                model += GRADED_DRIVE_STATE
                boundary.append("Ix = 0")
            template = OUTPUT_STEP if index == len(sizes) - 1 else HIDDEN_STEP
            alpha = ALPHA["annealed" if spec.phases.nudge_anneal != 1.0 else "constant"]
            step.append(template.format(drive=drive, alpha=alpha))
        if kind != "graded":
            step += [TRACE_STEP, CODE_STEP[code][kind]]
            step += [rule.neuron_step(partner)] if rule.step else []
        events = {"sample_end": GRADED_SAMPLE_END} if kind == "graded" else {}
        if kind == "hidden":
            own = rule.own_signal(spec.learning.window_rate)
            reset += [own["on_spike"]] if own["on_spike"] else []
            step += [own["step"]] if own["step"] else []
            boundary.insert(0, rule.bias_apply)
            if index == 1 and input_path.on_post:
                events["learning_spike"] = LEARNING_SPIKE.format(threshold=threshold)
        if logging:
            model += "logged : 1\n"
            events["logged_spike"] = LOGGED_SPIKE.format(threshold=threshold)
        group = b2.NeuronGroup(size, model, threshold=threshold, reset="\n".join(reset),
                               events=events, dt=sample_dt if kind == "graded" else dt,
                               namespace=namespace, name=f"layer{index}")
        if kind == "graded":
            group.thresholder["sample_end"].when, group.thresholder["sample_end"].order = \
                SAMPLE_END_SCHEDULE["thresholder"]
        group.run_regularly("\n".join(boundary), dt=sample_dt, when="start", order=2,
                            name=f"layer{index}_boundary")
        if step:
            group.run_regularly("\n".join(step), when="groups", name=f"layer{index}_step")
        if kind == "hidden" and biases is not None:
            group.b = biases[index - 1]
        if logging:
            flags = np.zeros(size)
            flags[np.asarray(log_neurons[index], dtype=int)] = 1.0
            group.logged = flags
            log_monitors.append(b2.EventMonitor(group, "logged_spike", record=True,
                                                name=f"log_layer{index}"))
        layers.append(group)

    synapses = []
    for index in range(len(sizes) - 1):
        lower, upper = layers[index], layers[index + 1]
        clamped = index == 0  # the input layer receives no feedback
        graded = graded_pair(spec, index)
        path = rule.pathway(graded, partner)
        deliver = GRADED_ON_PRE if graded else "I_post += w"
        on_pre = "\n".join(c for c in (deliver, path.on_pre) if c)
        on_post = "\n".join(c for c in ("" if clamped else "I_pre += w", path.on_post) if c)
        pathways = {"on_pre": {"pre": on_pre}, "on_event": {"pre": "spike"}}
        if path.on_sample_end:
            pathways["on_pre"]["sample_end"] = path.on_sample_end
            pathways["on_event"]["sample_end"] = "sample_end"
        if on_post:
            pathways["on_post"] = on_post
            pathways["on_event"]["post"] = "learning_spike" if clamped else "spike"
        syn = b2.Synapses(lower, upper, model="w : 1\n" + path.synapse_model,
                          dt=sample_dt if graded else dt, namespace=namespace,
                          name=f"w{index}{index + 1}", **pathways)
        syn.connect()  # all-to-all, i-major: w[i * n_post + j] = W[i, j]
        syn.w_max = UNBOUNDED  # the engine sets the network's bound per run
        if path.on_sample_end:
            syn.sample_end.when, syn.sample_end.order = SAMPLE_END_SCHEDULE["pathway"]
        if path.apply:
            syn.run_regularly(path.apply, dt=sample_dt, when="start", order=1,
                              name=f"w{index}{index + 1}_boundary")
        if weights is not None:
            syn.w = np.asarray(weights[index], dtype=float).ravel()
        synapses.append(syn)

    monitor = b2.StateMonitor(layers[-1], "count", record=True, dt=sample_dt, when="start",
                              order=0, name="readout_monitor")
    network = b2.Network(*layers, *synapses, monitor, *log_monitors)
    event_monitor = None
    if count_events:
        counters = b2.NeuronGroup(len(sizes), COUNTER_STATE, dt=sample_dt,
                                  namespace=namespace, name="event_counters")
        feeds = []
        for index, group in enumerate(layers):
            feed = b2.Synapses(group, counters[index:index + 1], model=COUNTER_SUMS,
                               dt=sample_dt, namespace=namespace, name=f"count_layer{index}")
            feed.connect()
            for updater in feed.summed_updaters.values():
                # at the boundary, before the monitor records and the counts are reset
                updater.when, updater.order = "start", -1
            feeds.append(feed)
        event_monitor = b2.StateMonitor(counters, list(EVENT_PHASES), record=True,
                                        dt=sample_dt, when="start", order=0,
                                        name="event_monitor")
        network.add(counters, *feeds, event_monitor)
    return SpikingNetwork(spec, n_samples, network, layers, synapses, signals, monitor,
                          event_monitor, log_monitors)
