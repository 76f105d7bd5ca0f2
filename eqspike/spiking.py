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
it is coupled to, in both directions through ONE :class:`~brian2.Synapses` object per edge
of the network graph (``on_pre`` feeds the upper layer, ``on_post`` feeds the lower one):
the symmetric coupling EP requires, with one weight per pair of neurons. An edge may join
any two layers (a skip coupling l → m, m > l + 1): a layer's I sums what every edge into or
out of it delivers. A conv edge (:func:`build_conv_edge`) is one synapse per tap of the
convolution (:mod:`eqspike.conv`), each reading its kernel entry from a kernel group through
a linked variable: one weight per kernel entry, shared by every connection that uses it.
The input layer is clamped: its neurons emit the pixel rates in the same code and receive
nothing. Averaged over time, u settles near
the EP fixed point W ρ + b of the rate dynamics s ← ρ(W s + b), which is what the spike
rates code.

At each sample boundary (run_regularly, ``when='start'``, in the order of
:data:`BOUNDARY`) the learning rule of :mod:`eqspike.rules` (``[learning] rule``) applies
its accumulated update on the synapses, then the neurons apply theirs and every state is
reset (u = I = x = 0, a = 1/2). The output's readout count (spikes in the last ``readout_steps``
free steps) is recorded by a :class:`~brian2.StateMonitor` just before that reset, so the
monitor holds one row per sample of the chunk and never grows with the run.

What changes from step to step and from sample to sample (the phase schedule: per-step
signals such as ``phase``, ``nudge``, ``learn_sign``, ``readout``; per-sample ``stimulus`` and
``target``) is defined in :mod:`eqspike.schedule`; this module reads them as TimedArrays.

Two pieces exist for speed and measurement, not for the model. The synapses of every edge
from the input run their rule-only ``on_post`` pathway on a custom ``learning_spike`` event
(a spike while σ(t) ≠ 0) instead of every spike. Every neuron counts its own spikes per
sample in the three parts of :data:`EVENT_PHASES` (what :mod:`eqspike.energy` builds on), in
its reset code; at each sample boundary a summed variable totals them per layer and a
StateMonitor records that.

With ``log_neurons`` (STDP logging, :mod:`eqspike.plasticity.stdp_log`) the flagged
neurons' spikes in training samples raise a ``logged_spike`` event that an EventMonitor per
layer records; a chunk's monitors hold only that chunk.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .rules import NEURON_MODEL, UNBOUNDED, graded_edge, rule_for
from .schedule import (EVENT_PHASES, SAMPLE_EVAL, SAMPLE_TRAIN, padded_sample_signal,
                       phase_signals, sample_steps)
from .spec import NetworkSpec

__all__ = ["SpikingNetwork", "BuildContext", "NeuronCode", "WeightSlot", "build_network",
           "build_layer", "build_dense_edge", "build_conv_edge", "build_conv_feedback",
           "build_feedback_copy", "build_counters", "build_readout_normaliser",
           "edge_synapses_name", "copies_feedback", "BOUNDARY", "neuron_code",
           "layer_kind", "LAYER_CODE", "EDGE_BUILDERS", "deliver", "spike_pathways",
           "synapses_pathways", "DELTA_EVENTS"]

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
#: before the synapses' apply and the neurons' reset of the new sample (:data:`BOUNDARY`).
SAMPLE_END_SCHEDULE = {"thresholder": ("start", -3), "pathway": ("start", -2)}
#: The order of the work at each sample boundary (``when = "start"``), after the event
#: counters (-1) and the monitors (0): the rule applied (by the synapses, or a conv edge's
#: kernel, :data:`KERNEL_STATE`), a feedback copy refreshed (:data:`COPY_BUFFER`), then the
#: neurons' update and reset.
BOUNDARY = {"apply": 2, "refresh": 3, "neurons": 4}
#: Receiving a graded event: the post neuron holds w r_j as input drive for the sample.
GRADED_ON_PRE = "Ix_post += w * r_pre"
#: The held drive of a layer that receives a graded input.
GRADED_DRIVE_STATE = "Ix : 1                       # drive held from the graded input events\n"

#: One step of a hidden neuron (see the module docstring for the equations); ``{drive}``
#: is ``I`` plus, in a layer fed by a graded input, ``Ix``.
HIDDEN_STEP = "u += ({drive} + b - u) * {alpha}"
#: One step of an output neuron: the nudge β(y − ρ(u)) pulls it toward the target.
OUTPUT_STEP = ("u += ({drive} + b + beta * nudge(t) * (target(t, i) - clip(u, 0, 1)) - u)"
               " * {alpha}")
#: A binary spike code's input I holds the last step's spikes: it is cleared once read.
#: The delta code's I holds Σ w ρ̂, which events change and nothing clears within a sample.
CLEAR_INPUT = "I = 0"
#: The step size: α, or with ``[phases] nudge_anneal`` < 1, α times the per-step signal
#: ``alpha_scale`` (see :func:`phase_signals`).
ALPHA = {"constant": "alpha", "annealed": "alpha * alpha_scale(t)"}
#: Symmetric nudging: the free state, saved at the start of the first nudged step and put
#: back at the start of the second nudged phase (code runs before the step's update).
REWIND_STATE = {"hidden": ("u", "I", "x", "sd"), "input": ("x", "sd"),
                "delta": ("u", "I", "rhohat"), "readout": ("I", "rhohat")}
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
#: The delta code (``[spiking] code = "delta"``): graded events that carry changes, as
#: Loihi 2's sigma-delta neurons send them (Shrestha et al., "Efficient video and audio
#: processing with Loihi 2", ICASSP 2024; lava-dl's SigmaDelta neuron). A neuron keeps ρ̂,
#: the value it last sent; after its state update at each step it computes the change
#: q = ρ(u) − ρ̂ and keeps it only if |q| ≥ θ(t) (the per-step signal ``theta``,
#: :func:`eqspike.schedule.delta_thresholds`); an event (q ≠ 0) carries q to every neuron
#: coupled to it, which adds w q to its input I, so that I = Σ_j w_ij ρ̂_j at all times
#: (no clearing; the sample boundary sets u = I = ρ̂ = 0 together); then ρ̂ ← ρ̂ + q. With θ
#: = 0 every change is sent, ρ̂ = ρ(u) after every step and the network is its rate twin
#: (:func:`eqspike.reference.network.spiking_twin`) step for step; with θ > 0, |ρ(u) − ρ̂| <
#: θ after every step. An output neuron's readout sums what it has sent, ρ̂, over the
#: readout window.
DELTA_STATE = """
rhohat : 1                   # the value last sent, rho-hat
q : 1                        # this step's event payload rho(u) - rho-hat (0: no event)
"""
DELTA_STEP = "q = clip(u, 0, 1) - rhohat\nq = q * int(abs(q) >= theta(t))"
DELTA_EVENT = "rhohat += q"
DELTA_READOUT = "count += readout(t) * (rhohat + q)"
#: The cross-entropy read-out (``[spiking] loss = "cross_entropy"``; Laborieux et al.,
#: Front. Neurosci. 2021): the output layer is a softmax read-out of the last hidden layer,
#: outside the energy, with the delta code's signed graded events. Read-out neuron k holds
#: its logit z_k = I_k + b_k, where I_k = Σ_j W_jk ρ̂_j is what the last hidden layer's
#: events delivered, o = softmax(z) through the normaliser Z = Σ_k exp(z_k)
#: (:data:`READOUT_NORMALISER`, computed before the read-out's step), and sends the changes
#: of its value
#:
#:     v_k = β ν(t) (y_k − o_k)        (0 in the free phase, ±β (y − o) in a nudged one)
#:
#: so that the last hidden layer receives Σ_k W_jk v̂_k through the edge's downward path:
#: the rate reference's nudge −β ∂CE/∂s = β W (y − o), one step later than it (the read-out
#: is one synapse further than a nudged output layer; the fixed points are the same). On
#: the read-out's edge the delta rule then learns η ½ [ρ̂⁺ (y − o⁺) + ρ̂⁻ (y − o⁻)] and on
#: its bias η_b ½ [(y − o⁺) + (y − o⁻)] (symmetric nudging; one-sided: ρ̂^β (y − o^β)):
#: EP's update of the read-out in Laborieux et al.'s Φ − β L, read at the nudged states (the
#: rate reference steps it by the gradient at the free state, equal up to O(β²)). The
#: prediction is the largest logit summed over the readout window (softmax is monotone).
#: exp's argument is clipped to ±80 so that a float32 build cannot overflow.
READOUT_STATE = """
I : 1                        # sum_j W_jk rho-hat_j: what the last hidden layer delivered
b : 1                        # bias
count : 1                    # the logit summed over the readout window
rhohat : 1                   # the value last sent, v-hat
q : 1                        # this step's event payload v - v-hat (0: no event)
Z : 1 (linked)               # the normaliser sum_k exp(z_k)
z = I + b : 1                # the logit
phase_now = phase(t) : 1 (shared)
"""
READOUT_STEP = ("q = beta * nudge(t) * (target(t, i) - exp(clip(z, -80, 80)) / Z) - rhohat\n"
                "q = q * int(abs(q) >= theta(t))\n"
                "count += readout(t) * z")
READOUT_NORMALISER = "Z_post = exp(clip(z_pre, -80, 80)) : 1 (summed)"
#: The read-out's order at every step (``when = "groups"``): its rewind (the free state
#: restored for the +β phase), then the normaliser of the restored logits, both before its
#: step, which runs at order 0 as every layer's does.
READOUT_ORDER = {"rewind": -2, "normaliser": -1}
#: What an event delivers to the neurons it reaches, per spike code: w (a binary spike) or
#: w q (a graded delta event); ``{src}`` is the sending side (``pre`` or ``post``).
PAYLOAD = {"sigma_delta": "", "bernoulli": "", "delta": " * q_{src}"}
#: With the delta code a neuron's event (q ≠ 0) is one of two, by the broadcast σ(t)
#: (:func:`spike_pathways`): a quiet event (σ = 0: the free phase under symmetric nudging,
#: where most events happen), on which the synapses only deliver, or a learning event (σ ≠
#: 0), on which they deliver and add the rule's signal. The rule's signal is σ times a
#: product, so leaving it out where σ = 0 changes nothing but the work (measured: the
#: free phase's events cost a third less). The neuron's own code at an event
#: (``rhohat += q``, its bias signal, the counters) runs on both.
DELTA_EVENTS = {"quiet_event": "q != 0 and learn == 0",
                "learning_event": "q != 0 and learn != 0"}
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
#: A conv edge's reach: each neuron's spike counts times its taps on the edge (``fan``).
COUNTER_REACH = ("fan : 1 (constant)\n"
                 "free_quiet_post = n_quiet_pre * fan : 1 (summed)\n"
                 "free_window_post = n_window_pre * fan : 1 (summed)\n"
                 "nudged_post = n_nudged_pre * fan : 1 (summed)")
BOUNDARY_RESET = {"hidden": "u = 0\nI = 0\nx = 0\nsd = 0.5\ncount = 0",
                  "delta": "u = 0\nI = 0\nrhohat = 0\nq = 0\ncount = 0",
                  "input": "x = 0\nsd = 0.5\ncount = 0", "graded": GRADED_INPUT_LOAD,
                  "readout": "I = 0\nrhohat = 0\nq = 0\ncount = 0"}


@dataclass
class SpikingNetwork:
    """The Brian2 objects of one build, and the handles the engine needs."""

    spec: NetworkSpec
    n_samples: int
    network: object           # brian2.Network
    layers: list              # NeuronGroup per layer, input first
    synapses: list            # Synapses per edge, in the order of spec.edges
    weights: list             # per edge, the group holding its w, lr_w, w_max: the Synapses
                              # (dense), the kernel group (conv)
    signals: dict             # name -> TimedArray: stimulus, target, phase, learn_sign, readout
    readout_monitor: object   # StateMonitor of the output's ``count`` at sample boundaries
    event_monitor: object = None  # StateMonitor of the event counters (None: not counted)
    log_monitors: list = None     # EventMonitor of logged spikes per layer ([]: not logging)
    free_only: bool = False       # samples of the free phase alone (evaluation only)
    feedback: list = None         # per edge, the WeightSlot of its own feedback weights B
                                  # (one-way couplings), or None

    def weight_slots(self) -> list:
        """(W's slot, B's slot or None) per edge: where the build holds each array."""
        feedback = self.feedback or [None] * len(self.weights)
        return [(WeightSlot(holder, "w"), b) for holder, b in zip(self.weights, feedback)]

    @property
    def duration_steps(self) -> int:
        """All samples, plus one step in which the last sample's update is applied."""
        return self.n_samples * sample_steps(self.spec, self.free_only) + 1


@dataclass
class WeightSlot:
    """Where a weight array (W or B, (n_pre, n_post), or a kernel's shape) lives in a
    build: ``holder``'s ``variable``, stored transposed when ``transposed`` (a feedback
    copy holds B in the upper layer's order), with its device gains in ``gain``."""

    holder: object
    variable: str
    transposed: bool = False
    gain: str = "gain"

    def flat(self, array) -> np.ndarray:
        """``array`` in the order the holder stores it."""
        array = np.asarray(array, dtype=float)
        return (array.T if self.transposed else array).ravel()

    def read(self, shape) -> np.ndarray:
        """The holder's values as an array of ``shape``."""
        values = np.asarray(getattr(self.holder, self.variable)[:], dtype=float)
        if self.transposed:
            return values.reshape(tuple(reversed(shape))).T.copy()
        return values.reshape(shape)


@dataclass
class BuildContext:
    """What every piece of a build reads: the spec, its rule, clocks, namespace and options."""

    spec: NetworkSpec
    rule: object                 # eqspike.rules.Rule
    namespace: dict
    dt: object                   # one EP step (a Brian2 quantity)
    sample_dt: object            # one sample
    count_events: bool
    rewind: bool                 # symmetric nudging: the free state is saved and restored
    log_neurons: list | None
    free_only: bool = False      # samples of the free phase alone (evaluation only)

    @property
    def graded_input(self) -> bool:
        return self.spec.spiking.input_code == "graded"

    @property
    def fed_by_input(self) -> set:
        """The layers an edge from the input feeds (layer 1, and any a skip coupling from
        the input reaches)."""
        return {e.post for e in self.spec.edges if e.pre == 0}


@dataclass
class NeuronCode:
    """The Brian2 strings of one layer's NeuronGroup, assembled piece by piece."""

    model: str
    threshold: str | None                           # the "spike" event (None: none)
    reset: list = field(default_factory=list)       # code at each spike (each reset event)
    step: list = field(default_factory=list)        # code at every step (run_regularly)
    prestep: list = field(default_factory=list)     # the read-out's rewind, before its
                                                    # normaliser and its step
    boundary: list = field(default_factory=list)    # code at each sample boundary
    events: dict = field(default_factory=dict)      # custom events: name -> condition
    reset_events: tuple = ("spike",)                # the events the reset code runs on


def layer_kind(spec: NetworkSpec, index: int) -> str:
    """What layer ``index`` is: "input" (spikes at its pixel rates), "graded" (an input
    that sends one event per sample), "hidden", "output" (a hidden layer that is nudged) or
    "readout" (the cross-entropy read-out, :data:`READOUT_STATE`)."""
    if index == 0:
        return "graded" if spec.spiking.input_code == "graded" else "input"
    if index < len(spec.layers) - 1:
        return "hidden"
    return "readout" if spec.spiking.loss == "cross_entropy" else "output"


def _input_code(ctx: BuildContext, index: int) -> NeuronCode:
    """A clamped input neuron: it emits its pixel rate in the network's spike code."""
    rule, code = ctx.rule, ctx.spec.spiking.code
    return NeuronCode(INPUT_STATE + rule.input_model + rule.neuron_model,
                      THRESHOLD[code]["input"], reset=_spike_reset(ctx),
                      boundary=[BOUNDARY_RESET["input"]] + ([rule.reset] if rule.reset else []))


def _graded_code(ctx: BuildContext, index: int) -> NeuronCode:
    """A graded input neuron: one event per sample carrying its value (see
    :data:`GRADED_INPUT_LOAD`), and one that closes a training sample."""
    return NeuronCode(GRADED_INPUT_STATE + ctx.rule.input_model, GRADED_THRESHOLD,
                      boundary=[BOUNDARY_RESET["graded"]],
                      events={"sample_end": GRADED_SAMPLE_END})


def _neuron_code(ctx: BuildContext, index: int) -> NeuronCode:
    """A hidden or output neuron (the module docstring's equations), or with the delta
    code one that sends graded changes (:data:`DELTA_STATE`)."""
    rule, code = ctx.rule, ctx.spec.spiking.code
    extra = rule.reset and [rule.reset] or []
    if code == "delta":
        return NeuronCode(NEURON_STATE + DELTA_STATE + NEURON_MODEL + rule.neuron_model,
                          None, reset=_spike_reset(ctx),
                          boundary=[BOUNDARY_RESET["delta"]] + extra,
                          events=dict(DELTA_EVENTS), reset_events=tuple(DELTA_EVENTS))
    return NeuronCode(NEURON_STATE + NEURON_MODEL + rule.neuron_model,
                      THRESHOLD[code]["hidden"], reset=_spike_reset(ctx),
                      boundary=[BOUNDARY_RESET["hidden"]] + extra)


def _readout_code(ctx: BuildContext, index: int) -> NeuronCode:
    """A neuron of the cross-entropy read-out (:data:`READOUT_STATE`): its logit, and the
    delta events of its value β ν(t) (y − o)."""
    rule = ctx.rule
    return NeuronCode(READOUT_STATE + NEURON_MODEL + rule.neuron_model, None,
                      reset=_spike_reset(ctx),
                      boundary=[BOUNDARY_RESET["readout"]] + ([rule.reset] if rule.reset else []),
                      step=[READOUT_STEP], events=dict(DELTA_EVENTS),
                      reset_events=tuple(DELTA_EVENTS))


def _spike_reset(ctx: BuildContext) -> list:
    if ctx.spec.spiking.code == "delta":
        return [DELTA_EVENT] + ([ctx.rule.on_spike] if ctx.rule.on_spike else [])
    reset = [SPIKE] + ([SIGMA_DELTA_RESET] if ctx.spec.spiking.code == "sigma_delta" else [])
    return reset + ([ctx.rule.on_spike] if ctx.rule.on_spike else [])


#: The piece that writes a layer kind's neuron code (a new layer kind is one more entry).
LAYER_CODE = {"input": _input_code, "graded": _graded_code, "hidden": _neuron_code,
              "output": _neuron_code, "readout": _readout_code}


def _add_counting(ctx: BuildContext, code: NeuronCode) -> None:
    """Each neuron counts its own spikes per part of the sample (:data:`EVENT_PHASES`)."""
    code.model += COUNT_STATE
    code.reset.append(COUNT_SPIKE)
    code.boundary.append(COUNT_RESET)


def _add_rewind(ctx: BuildContext, code: NeuronCode, kind: str) -> None:
    """Symmetric nudging: save the free state, restore it for the +β phase."""
    state = kind if kind in ("input", "readout") else (
        "delta" if ctx.spec.spiking.code == "delta" else "hidden")
    names = REWIND_STATE[state] + ctx.rule.rewind
    code.model += "".join(f"{v}_snap : 1\n" for v in names)
    steps = [REWIND_STEP.format(v=v) for v in names]
    if kind == "readout":
        code.prestep += steps
    else:
        code.step += steps


def _add_dynamics(ctx: BuildContext, code: NeuronCode, index: int, kind: str) -> None:
    """The state update of a hidden or output neuron, with the held graded drive in the
    layer a graded input feeds."""
    fed_graded = ctx.graded_input and index in ctx.fed_by_input
    if fed_graded:
        code.model += GRADED_DRIVE_STATE
        code.boundary.append("Ix = 0")
    template = OUTPUT_STEP if kind == "output" else HIDDEN_STEP
    annealed = ctx.spec.phases.nudge_anneal != 1.0 and not ctx.free_only
    alpha = ALPHA["annealed" if annealed else "constant"]
    code.step.append(template.format(drive="I + Ix" if fed_graded else "I", alpha=alpha))
    if ctx.spec.spiking.code != "delta":
        code.step.append(CLEAR_INPUT)


def _add_trace_and_code(ctx: BuildContext, code: NeuronCode, kind: str) -> None:
    """The spike trace, the spike code's accumulator and the rule's per-step code; with
    the delta code, the change to send (:data:`DELTA_STEP`) and an output's readout."""
    if ctx.spec.spiking.code == "delta":
        code.step += [DELTA_STEP] + ([DELTA_READOUT] if kind == "output" else [])
        return
    code.step += [TRACE_STEP, CODE_STEP[ctx.spec.spiking.code]["input" if kind == "input"
                                                                else "hidden"]]
    code.step += [ctx.rule.neuron_step(ctx.spec.learning.partner)] if ctx.rule.step else []


def _add_own_signal(ctx: BuildContext, code: NeuronCode, index: int) -> None:
    """How the neuron measures its own window signal H_i, its bias update, and (on the
    layer above the input) the learning-window spike event the input synapses listen to."""
    own = ctx.rule.own_signal(ctx.spec.learning.window_rate)
    code.reset += [own["on_spike"]] if own["on_spike"] else []
    code.step += [own["step"]] if own["step"] else []
    code.boundary.insert(0, ctx.rule.bias_apply)
    input_path = ctx.rule.pathway(ctx.graded_input, ctx.spec.learning.partner)
    if index in ctx.fed_by_input and input_path.on_post:
        code.events["learning_spike"] = LEARNING_SPIKE.format(threshold=code.threshold)


def neuron_code(ctx: BuildContext, index: int) -> NeuronCode:
    """Layer ``index``'s NeuronGroup strings: its kind's piece, then the pieces every layer
    kind shares (counting, the rewind, the dynamics, trace and code, the own signal, STDP
    logging), in the order the generated code runs them."""
    kind = layer_kind(ctx.spec, index)
    code = LAYER_CODE[kind](ctx, index)
    spiking = kind != "graded"
    if ctx.count_events:
        _add_counting(ctx, code)
    if ctx.rewind and spiking:
        _add_rewind(ctx, code, kind)
    if kind in ("hidden", "output"):
        _add_dynamics(ctx, code, index, kind)
    if spiking and kind != "readout":
        _add_trace_and_code(ctx, code, kind)
    if kind in ("hidden", "output", "readout"):
        _add_own_signal(ctx, code, index)
    if ctx.log_neurons is not None:
        code.model += "logged : 1\n"
        code.events["logged_spike"] = LOGGED_SPIKE.format(threshold=code.threshold)
    return code


def build_layer(ctx: BuildContext, index: int, biases=None):
    """The NeuronGroup of layer ``index`` (with its boundary and step operations), and its
    STDP-logging monitor (None without logging)."""
    import brian2 as b2

    kind = layer_kind(ctx.spec, index)
    code = neuron_code(ctx, index)
    size = ctx.spec.layers[index]
    reset = "\n".join(code.reset)
    group = b2.NeuronGroup(size, code.model, threshold=code.threshold,
                           reset=reset if "spike" in code.reset_events else None,
                           events=code.events, dt=ctx.sample_dt if kind == "graded" else ctx.dt,
                           namespace=ctx.namespace, name=f"layer{index}")
    for event in code.reset_events:
        if event != "spike":
            group.run_on_event(event, reset)
    if kind == "graded":
        group.thresholder["sample_end"].when, group.thresholder["sample_end"].order = \
            SAMPLE_END_SCHEDULE["thresholder"]
    group.run_regularly("\n".join(code.boundary), dt=ctx.sample_dt, when="start",
                        order=BOUNDARY["neurons"], name=f"layer{index}_boundary")
    if code.prestep:
        group.run_regularly("\n".join(code.prestep), when="groups",
                            order=READOUT_ORDER["rewind"], name=f"layer{index}_rewind")
    if code.step:
        group.run_regularly("\n".join(code.step), when="groups", name=f"layer{index}_step")
    if kind in ("hidden", "output", "readout") and biases is not None:
        group.b = biases[index - 1]
    monitor = None
    if ctx.log_neurons is not None:
        flags = np.zeros(size)
        flags[np.asarray(ctx.log_neurons[index], dtype=int)] = 1.0
        group.logged = flags
        monitor = b2.EventMonitor(group, "logged_spike", record=True, name=f"log_layer{index}")
    return group, monitor


#: The feedback copy (``[spiking] feedback = "copy"``). Brian2 stores an all-to-all edge's
#: synapses in the lower layer's order (w[i n_post + j] = W_ij), so the feedback pathway of
#: an upper spike j (``on_post``: I_i += W_ij for every i) reads w, the rule's accumulator
#: and the synapse→neuron index with a stride of n_post: measured 6.3 against 1.0 ns per
#: event forward on 256 × 256 (benchmarks/profile_network.py). With the copy, the edge's own
#: Synapses feed only upward, and a second Synapses object from the upper to the lower layer,
#: stored in the upper layer's order, holds W_ij as its ``w`` and feeds downward with the
#: rule's feedback half: the same deliveries, read contiguously. Brian2 links variables of
#: fixed-size groups only, so what crosses between the two lives in a buffer group of one
#: entry per synapse: ``kh``, the feedback half of the rule's accumulator, in the copy's
#: order (the copy adds to it at spikes, contiguously), and ``kw``, W in the edge's order.
#: At each boundary the edge adds ``kh`` to its accumulator, applies the rule and publishes
#: W in ``kw`` (BOUNDARY["apply"]); the copy reloads W and clears ``kh``
#: (BOUNDARY["refresh"]): one strided read each per synapse and sample, no strided write.
#: Exact for rules that change W only at the boundary: the two halves' sum is the one
#: accumulator's, up to the order of the float additions.
COPY_BUFFER = "kh : 1                       # the copy's accumulator, in the copy's order\n" \
              "kw : 1                       # W, in the edge's order\n"
COPY_LINKS = "k_edge : integer (constant)  # this synapse's entry in the edge's order\n" \
             "k_copy : integer (constant)  # ... in the copy's order\n" \
             "kh : 1 (linked)\nkw : 1 (linked)\n"
COPY_ADD = "{acc} += kh"
COPY_PUBLISH = "kw = w"
COPY_REFRESH = "w = kw\nkh = 0"
#: One-way couplings (``[synapses] coupling = "asymmetric"``, :mod:`eqspike.synapses`): the
#: copy holds the feedback weights B, its own, not a copy of W. At the boundary the edge
#: puts its change Δw (both halves of the rule's signal, the same for W and B: each
#: synapse learns from the two neurons it joins) in the buffer's ``kw`` before it updates
#: W, and the copy updates B by the same change (each through its own (update): its
#: device gain, noise and rounding).
ASYMMETRIC_PUBLISH = "kw = {delta}\nUPDATE(w, kw)"
ASYMMETRIC_REFRESH = "UPDATE(w, kw)\nkh = 0"
#: The copy's state for (update) when it holds B: the bound (and, per [synapses], the
#: other scalars and the gains, :func:`eqspike.synapses.hardware_model`).
COPY_BOUND = "w_max : 1 (shared)           # |w| <= w_max after every update\n"


def updated(ctx: BuildContext, code: str, gains: dict | None = None) -> str:
    """``code`` with its ``UPDATE(w, Δw)`` written out as the synapse's update of this
    network's ``[synapses]`` (:func:`eqspike.synapses.expand_updates`)."""
    from .synapses import expand_updates

    return expand_updates(code, ctx.spec.synapses, gains or {})


def deliver(spec: NetworkSpec, into: str, scale: float | None = None) -> str:
    """The code that delivers an event to the neuron on side ``into`` (``post``: upward,
    ``pre``: downward) of a synapse: ``I_into += [scale *] w``, times the event's payload
    with the delta code (:data:`PAYLOAD`)."""
    src = "pre" if into == "post" else "post"
    factor = "" if scale is None else f"{scale!r} * "
    return f"I_{into} += {factor}w" + PAYLOAD[spec.spiking.code].format(src=src)


def spike_pathways(ctx: BuildContext, side: str, delivery: str, learning: str,
                   event: str = "spike", sender: int = 1) -> dict:
    """``{pathway name: (code, event)}`` of the events of one side of a Synapses object
    (``side``: ``pre`` for ``on_pre``, ``post`` for ``on_post``; ``sender``: the layer whose
    events they are): one pathway running ``delivery`` and the rule's ``learning`` code on
    ``event``, or, for a layer that sends delta events, one per kind of event
    (:data:`DELTA_EVENTS`): ``delivery`` alone on quiet events (``SIDE_quiet``), both on
    learning events (``SIDE``). Empty when there is nothing to run."""
    code = "\n".join(c for c in (delivery, learning) if c)
    if not code:
        return {}
    if ctx.spec.spiking.code != "delta" or sender == 0:
        return {side: (code, event)}
    kinds = {f"{side}_quiet": (delivery, "quiet_event"), side: (code, "learning_event")}
    return {name: pathway for name, pathway in kinds.items() if pathway[0]}


def synapses_pathways(*groups: dict) -> dict:
    """The keyword arguments ``on_pre``, ``on_post`` and ``on_event`` of a
    :class:`~brian2.Synapses` object from :func:`spike_pathways` of its pre side (first)
    and of its post side; ``on_post`` left out when the post side has none."""
    pre, post = groups[0], dict(p for g in groups[1:] for p in g.items())
    out = {"on_pre": {name: code for name, (code, _) in pre.items()},
           "on_event": {name: event for name, (_, event) in {**pre, **post}.items()}}
    if post:
        out["on_post"] = {name: code for name, (code, _) in post.items()}
    return out


def mirrored(code: str, accumulator: str = "") -> str:
    """Synapse code seen from the other side, for the feedback copy (whose presynaptic
    layer is the edge's upper layer): ``_pre`` ↔ ``_post``, and the rule's accumulator
    written to the buffer's ``kh``."""
    import re

    code = re.sub(r"_(pre|post)\b", lambda m: "_post" if m.group(1) == "pre" else "_pre",
                  code)
    return re.sub(rf"\b{accumulator}\b", "kh", code) if accumulator else code


def copies_feedback(spec: NetworkSpec, edge) -> bool:
    """Whether ``edge`` feeds its lower layer through a copy (``[spiking] feedback``): every
    dense edge whose lower layer spikes and receives (not the clamped input)."""
    return spec.spiking.feedback == "copy" and edge.pre > 0 and edge.kind == "dense"


def _link_buffer(owner, buffer) -> None:
    import brian2 as b2

    owner.kh = b2.linked_var(buffer, "kh", index="k_copy")
    owner.kw = b2.linked_var(buffer, "kw", index="k_edge")


def build_feedback_copy(ctx: BuildContext, edge, lower, upper, syn, path) -> list:
    """The feedback copy of edge ``syn`` (see :data:`COPY_BUFFER`): the buffer group and
    the upper → lower Synapses; returns both (to add to the network)."""
    import brian2 as b2

    n_lower, n_upper = len(lower), len(upper)
    name = syn.name
    buffer = b2.NeuronGroup(n_lower * n_upper, COPY_BUFFER, dt=ctx.sample_dt,
                            namespace=ctx.namespace, name=f"{name}_buffer")
    from .synapses import hardware_model

    asymmetric = ctx.spec.synapses.coupling == "asymmetric"
    pathways = synapses_pathways(spike_pathways(
        ctx, "pre", deliver(ctx.spec, "post"), mirrored(path.on_post, ctx.rule.accumulator)))
    model = "w : 1\n" + COPY_LINKS + (COPY_BOUND + hardware_model(ctx.spec.synapses)
                                      if asymmetric else "")
    copy = b2.Synapses(upper, lower, model=model, dt=ctx.dt,
                       namespace=ctx.namespace, name=f"{name}_feedback", **pathways)
    copy.connect()
    # edge synapse (i lower, j upper) is entry i n_upper + j in the edge's order and
    # j n_lower + i in the copy's (whose own i is the upper neuron, j the lower one)
    syn.k_edge, syn.k_copy = f"i * {n_upper} + j", f"j * {n_lower} + i"
    copy.k_edge, copy.k_copy = f"j * {n_upper} + i", f"i * {n_lower} + j"
    _link_buffer(syn, buffer)
    _link_buffer(copy, buffer)
    refresh = updated(ctx, ASYMMETRIC_REFRESH) if asymmetric else COPY_REFRESH
    copy.run_regularly(refresh, dt=ctx.sample_dt, when="start",
                       order=BOUNDARY["refresh"], name=f"{name}_feedback_refresh")
    if asymmetric:
        copy.w_max = UNBOUNDED
    return [buffer, copy]


def build_dense_edge(ctx: BuildContext, edge, lower, upper, weights=None):
    """The Synapses of one dense edge: all-to-all, one weight per pair serving both
    directions (``on_pre`` feeds the upper layer, ``on_post`` the lower one, unless the
    lower layer is the clamped input, or :func:`build_feedback_copy` does), with the rule's
    pathway of that edge. Returns (the edge's Synapses, the same as the group holding its
    weights, other objects to add)."""
    import brian2 as b2

    from .synapses import hardware_model

    spec = ctx.spec
    clamped = edge.pre == 0  # the input layer receives no feedback
    copied = copies_feedback(spec, edge)
    graded = graded_edge(spec, spec.edges.index(edge))
    path = ctx.rule.pathway(graded, spec.learning.partner)
    up = spike_pathways(ctx, "pre", GRADED_ON_PRE if graded else deliver(spec, "post"),
                        path.on_pre, sender=edge.pre)
    if path.on_sample_end:
        up["sample_end"] = (path.on_sample_end, "sample_end")
    down = {} if copied else spike_pathways(ctx, "post", "" if clamped else deliver(spec, "pre"),
                                            path.on_post,
                                            "learning_spike" if clamped else "spike")
    pathways = {key: ({n: updated(ctx, c) for n, c in value.items()}
                      if key != "on_event" else value)
                for key, value in synapses_pathways(up, down).items()}
    name = edge_synapses_name(edge)
    model = "w : 1\n" + path.synapse_model + (COPY_LINKS if copied else "") + \
        hardware_model(spec.synapses)
    syn = b2.Synapses(lower, upper, model=model, dt=ctx.sample_dt if graded else ctx.dt,
                      namespace=ctx.namespace, name=name, **pathways)
    syn.connect()  # all-to-all, i-major: w[i * n_post + j] = W[i, j]
    syn.w_max = UNBOUNDED  # the engine sets the network's bound per run
    extra = build_feedback_copy(ctx, edge, lower, upper, syn, path) if copied else []
    if path.on_sample_end:
        syn.sample_end.when, syn.sample_end.order = SAMPLE_END_SCHEDULE["pathway"]
    apply = path.apply
    if copied and spec.synapses.coupling == "asymmetric":
        acc = ctx.rule.accumulator
        apply = "\n".join(c for c in (COPY_ADD.format(acc=acc) if acc else "",
                                       _publish_change(apply)) if c)
    elif copied:
        acc = ctx.rule.accumulator
        apply = "\n".join(c for c in (COPY_ADD.format(acc=acc) if acc else "", apply,
                                       COPY_PUBLISH) if c)
    if apply:
        syn.run_regularly(updated(ctx, apply), dt=ctx.sample_dt, when="start",
                          order=BOUNDARY["apply"], name=f"{name}_boundary")
    if weights is not None:
        syn.w = np.asarray(weights, dtype=float).ravel()
    return syn, syn, extra


def _publish_change(apply: str) -> str:
    """A rule's boundary code (``UPDATE(w, Δw)`` and the rest) with Δw first put in the
    buffer for the copy that holds B (:data:`ASYMMETRIC_PUBLISH`)."""
    from .synapses import UPDATE

    at = apply.index(UPDATE + "(w,")
    depth, k = 0, at + len(UPDATE)
    for k in range(at + len(UPDATE), len(apply)):
        depth += {"(": 1, ")": -1}.get(apply[k], 0)
        if depth == 0:
            break
    delta = apply[at + len(UPDATE) + 3:k].strip()
    return apply[:at] + ASYMMETRIC_PUBLISH.format(delta=delta) + apply[k + 1:]


def edge_synapses_name(edge) -> str:
    """The Brian2 name of an edge's Synapses: ``w{pre}_{post}`` (``w0_1``, ``w1_3``)."""
    return f"w{edge.pre}_{edge.post}"


#: A conv edge's shared weights (:mod:`eqspike.conv`): a group of one entry per kernel
#: weight. Every tap (a Synapses synapse) reads its entry through a linked ``w`` and, at its
#: spikes, adds the rule's signal (:attr:`eqspike.rules.Rule.spike_signal`) times the
#: pooling factor 1/p² straight into the entry's ``kacc`` (a graded input's taps: their
#: factorised update, at their closing event); the kernel applies lr_w kacc once per entry
#: at the sample boundary (BOUNDARY["apply"]), or at the end of every step for a rule whose
#: weights move at once (the continual rule). A kernel entry's update is the sum over its
#: taps of the per-connection updates; no tap holds an accumulator, so memory grows with
#: the taps' index, the weights with the kernel. Every write to a shared entry is a sum
#: (kacc +=) in a spike pathway, which Brian2 runs on one thread (the pathway writes a
#: variable of another group), so OpenMP threads do not race on it.
KERNEL_STATE = """
w : 1                        # the kernel entry W[o, c, u, v]
kacc : 1                     # its taps' summed update signal
lr_w : 1 (shared)            # see Rule.weight_scale
w_max : 1 (shared)           # |w| <= w_max after every update
"""
KERNEL_APPLY = "UPDATE(w, lr_w * kacc)\nkacc = 0"
#: A conv edge's kernel with one-way couplings (``[synapses] coupling = "asymmetric"``):
#: the feedback taps read a kernel of their own, ``wb`` (B), which learns the same change.
KERNEL_FEEDBACK = "wb : 1                       # the feedback kernel entry B[o, c, u, v]\n"
KERNEL_APPLY_ASYMMETRIC = "UPDATE(w, lr_w * kacc)\nUPDATE(wb, lr_w * kacc)\nkacc = 0"
#: Each kernel's device gains (device noise): ``gain`` for W's entries, ``gain_b`` for B's.
KERNEL_GAINS = {"w": "gain", "wb": "gain_b"}
TAP_STATE = "k : integer (constant)       # the tap's kernel entry\nw : 1 (linked)\n" \
            "kacc : 1 (linked)\n"
#: A tap's share of the rule's signal at a spike.
TAP_SIGNAL = "kacc += {scale!r} * {signal}"
TAP_GRADED_APPLY = "kacc += {scale!r} * r_pre * hebb_b_post"


def build_conv_edge(ctx: BuildContext, edge, lower, upper, weights=None):
    """The Synapses of one conv edge: one synapse per tap (:func:`eqspike.conv.conv_taps`),
    reading its kernel entry from the kernel group (:data:`KERNEL_STATE`) through a linked
    variable, so that W is shared; each tap delivers (1/p²) w in both directions
    (``on_pre`` upward, ``on_post`` downward, unless the lower layer is the clamped input)
    and adds its share of the rule's signal to the entry (:data:`TAP_SIGNAL`). The taps are
    stored in the lower layer's order, so that a presynaptic spike reads its taps
    contiguously; with ``[spiking] feedback = "copy"`` a second Synapses object, the taps in
    the upper layer's order, feeds the lower layer instead of ``on_post``
    (:func:`build_conv_feedback`). Returns (the Synapses, the kernel group, the objects to
    add: the kernel group and the copy)."""
    import brian2 as b2

    from .conv import edge_taps

    spec = ctx.spec
    clamped = edge.pre == 0
    copied = spec.spiking.feedback == "copy" and not clamped
    graded = graded_edge(spec, spec.edges.index(edge))
    taps = edge_taps(spec, edge)
    scale = taps.scale
    name = edge_synapses_name(edge)
    from .synapses import hardware_model

    asymmetric = copied and spec.synapses.coupling == "asymmetric"
    state = KERNEL_STATE + (KERNEL_FEEDBACK if asymmetric else "") + hardware_model(
        spec.synapses, tuple(KERNEL_GAINS.values()) if asymmetric else ("gain",))
    kernel = b2.NeuronGroup(taps.kernel_size, state, dt=ctx.sample_dt,
                            namespace=ctx.namespace, name=f"{name}_kernel")
    kernel.w_max = UNBOUNDED
    if graded:      # every rule: the factorised update at the sample's end
        pre = {"pre": (f"Ix_post += {scale!r} * w * r_pre", "spike"),
               "sample_end": (TAP_GRADED_APPLY.format(scale=scale), "sample_end")}
        post, down = {}, ""
    else:           # the spec admits only rules with a per-spike signal here
        up, down = (TAP_SIGNAL.format(scale=scale, signal=signal)
                    for signal in ctx.rule.tap_signals(spec.learning.partner))
        pre = spike_pathways(ctx, "pre", deliver(spec, "post", scale), up, sender=edge.pre)
        post = {} if copied else spike_pathways(
            ctx, "post", "" if clamped else deliver(spec, "pre", scale), down,
            "learning_spike" if clamped else "spike")
    pathways = synapses_pathways(pre, post)
    syn = b2.Synapses(lower, upper, model=TAP_STATE, dt=ctx.sample_dt if graded else ctx.dt,
                      namespace=ctx.namespace, name=name, **pathways)
    by_pre = np.argsort(taps.pre, kind="stable")         # the lower layer's order
    syn.connect(i=taps.pre[by_pre], j=taps.post[by_pre])
    _link_kernel(syn, kernel, taps.entry[by_pre])
    if graded:
        syn.sample_end.when, syn.sample_end.order = SAMPLE_END_SCHEDULE["pathway"]
    apply = updated(ctx, KERNEL_APPLY_ASYMMETRIC if asymmetric else KERNEL_APPLY,
                    KERNEL_GAINS)
    if ctx.rule.accumulator or graded:
        kernel.run_regularly(apply, dt=ctx.sample_dt, when="start",
                             order=BOUNDARY["apply"], name=f"{name}_kernel_apply")
    else:               # after the step's deliveries, before the next step's
        kernel.run_regularly(apply, dt=ctx.dt, when="end", name=f"{name}_kernel_apply")
    if weights is not None:
        kernel.w = np.asarray(weights, dtype=float).ravel()
    extra = [build_conv_feedback(ctx, taps, lower, upper, kernel, mirrored(down), name,
                                 "wb" if asymmetric else "w")] \
        if copied else []
    return syn, kernel, [kernel, *extra]


def _link_kernel(syn, kernel, entries, weight: str = "w") -> None:
    """Each synapse of ``syn`` reads (as its ``w``) the kernel's ``weight`` at entry
    ``entries[synapse]`` and adds to that entry's ``kacc``."""
    import brian2 as b2

    syn.k = entries
    syn.w = b2.linked_var(kernel, weight, index="k")
    syn.kacc = b2.linked_var(kernel, "kacc", index="k")


def build_conv_feedback(ctx: BuildContext, taps, lower, upper, kernel, signal: str,
                        name: str, weight: str = "w"):
    """A conv edge's feedback (``[spiking] feedback = "copy"``): the taps from the upper to
    the lower layer, in the upper layer's order, reading the same kernel entries (a kernel
    is small enough to stay in cache, so unlike a dense edge's copy it needs no copy of the
    weights); at an upper neuron's spike each tap delivers (1/p²) w and adds ``signal``, its
    share of the rule's signal (the edge's own, seen from the other side), to the entry."""
    import brian2 as b2

    pathways = synapses_pathways(spike_pathways(ctx, "pre", deliver(ctx.spec, "post",
                                                                   taps.scale), signal))
    feedback = b2.Synapses(upper, lower, model=TAP_STATE, dt=ctx.dt,
                           namespace=ctx.namespace, name=f"{name}_feedback", **pathways)
    feedback.connect(i=taps.post, j=taps.pre)            # ordered by post: upper-major
    _link_kernel(feedback, kernel, taps.entry, weight)
    return feedback


#: The piece that builds an edge kind: (its Synapses, the group holding its weights, other
#: objects to add) (a new edge kind is one more entry; the spec refuses, for the spiking
#: engine, the kinds not here).
EDGE_BUILDERS = {"dense": build_dense_edge, "conv": build_conv_edge}


def build_counters(ctx: BuildContext, layers: list) -> tuple:
    """The event counters: a group of one neuron per row of :func:`eqspike.conv.event_rows`
    that summed variables fill at every sample boundary, and the StateMonitor that records
    it. Rows 0 ... L − 1: each layer's per-part spike counts; then per conv edge
    (:func:`eqspike.conv.reach_rows`) the events its pre and its post layer's spikes send
    through it, each neuron's counts weighted by its taps (:data:`COUNTER_REACH`). Returns
    (objects to add to the network, the monitor)."""
    import brian2 as b2

    from .conv import edge_taps, event_rows, reach_rows

    counters = b2.NeuronGroup(event_rows(ctx.spec), COUNTER_STATE, dt=ctx.sample_dt,
                              namespace=ctx.namespace, name="event_counters")
    sources = [(group, f"count_layer{index}", None) for index, group in enumerate(layers)]
    for k, direction in reach_rows(ctx.spec):
        edge = ctx.spec.edges[k]
        taps = edge_taps(ctx.spec, edge)
        if direction == "up":
            fan = taps.fan_out(ctx.spec.layers[edge.pre])
            group = layers[edge.pre]
        else:
            fan = taps.fan_in(ctx.spec.layers[edge.post])
            group = layers[edge.post]
        sources.append((group, f"count_{edge_synapses_name(edge)}_{direction}", fan))
    feeds = []
    for row, (group, name, fan) in enumerate(sources):
        model = COUNTER_SUMS if fan is None else COUNTER_REACH
        feed = b2.Synapses(group, counters[row:row + 1], model=model, dt=ctx.sample_dt,
                           namespace=ctx.namespace, name=name)
        feed.connect()
        if fan is not None:
            feed.fan = fan.astype(float)      # one synapse per neuron, in neuron order
        for updater in feed.summed_updaters.values():
            # at the boundary, before the monitor records and the counts are reset
            updater.when, updater.order = "start", -1
        feeds.append(feed)
    monitor = b2.StateMonitor(counters, list(EVENT_PHASES), record=True, dt=ctx.sample_dt,
                              when="start", order=0, name="event_monitor")
    return [counters, *feeds, monitor], monitor


def build_readout_normaliser(ctx: BuildContext, readout) -> list:
    """The read-out's normaliser Z = Σ_k exp(z_k) (:data:`READOUT_NORMALISER`): a group of
    one neuron that a summed variable fills at every step, after the read-out's rewind and
    before its step (:data:`READOUT_ORDER`), and that every read-out neuron reads through
    its linked ``Z``. Returns the objects to add."""
    import brian2 as b2

    norm = b2.NeuronGroup(1, "Z : 1", dt=ctx.dt, namespace=ctx.namespace,
                          name="readout_normaliser")
    feed = b2.Synapses(readout, norm, model=READOUT_NORMALISER, dt=ctx.dt,
                       namespace=ctx.namespace, name="readout_sum")
    feed.connect()
    for updater in feed.summed_updaters.values():
        updater.when, updater.order = "groups", READOUT_ORDER["normaliser"]
    readout.Z = b2.linked_var(norm, "Z", index=np.zeros(len(readout), dtype=int))
    return [norm, feed]


def build_network(spec: NetworkSpec, n_samples: int, *, rates=None, targets=None,
                  kinds=None, weights=None, biases=None, count_events: bool = True,
                  log_neurons=None, free_only: bool = False):
    """Create the Brian2 objects for ``n_samples`` samples of network ``spec``: a
    NeuronGroup per layer (:func:`build_layer`, one piece per layer kind), the Synapses of
    each edge of the graph (:data:`EDGE_BUILDERS`, one piece per edge kind), the readout
    monitor and the event counters (:func:`build_counters`).

    Parameters
    ----------
    rates, targets : arrays (n_samples, n_in) and (n_samples, n_out), optional
        The chunk's pixel rates and one-hot targets; zeros when omitted (a standalone build
        gets its data through ``run_args``).
    kinds : int array (n_samples,), optional
        What each sample does (SAMPLE_TRAIN, SAMPLE_EVAL, SAMPLE_PAD); all train by default.
    weights, biases : lists of arrays, optional
        Initial W (n_pre, n_post) per edge and b per non-input layer; zeros if omitted.
    count_events : bool
        Count each layer's spikes per sample and phase (:data:`EVENT_PHASES`) inside the
        simulation: per-neuron counts in the reset code, totalled per layer at each sample
        boundary (a summed variable into a one-neuron-per-layer group).
        Off only to measure what counting costs.
    log_neurons : list of int arrays (one per layer), optional
        Neurons whose spikes in training samples are recorded for STDP logging
        (:mod:`eqspike.plasticity.stdp_log`); None: no logging objects at all.
    free_only : bool
        A build that only evaluates: every sample is its T1 free steps
        (:func:`eqspike.schedule.sample_steps`), no nudged slot is simulated; ``kinds``
        must not train.

    Returns
    -------
    SpikingNetwork

    Sets Brian2's ``core.default_float_dtype`` preference to the spec's ``precision``.
    """
    import brian2 as b2

    # a graded input's group and synapses run on the sample clock on purpose (see
    # GRADED_INPUT_LOAD): Brian2's note that their dt differs from the target's is expected
    b2.BrianLogger.suppress_name("synapses_dt_mismatch")
    # a feedback copy and a conv edge's taps read and write through linked variables,
    # which Brian2 cannot prove order-independent: each synapse of a copy owns its buffer
    # entry (a bijection, tested), and a tap's only write to a shared entry is a sum
    # (kacc +=), whose order changes only the rounding
    if spec.spiking.feedback == "copy" or any(e.kind == "conv" for e in spec.edges):
        b2.BrianLogger.suppress_hierarchy("brian2.codegen.generators.base")
    b2.prefs.core.default_float_dtype = {"float64": np.float64,
                                         "float32": np.float32}[spec.spiking.precision]
    n_in, n_out = spec.layers[0], spec.layers[-1]
    dt = spec.spiking.dt_ms * b2.ms
    sample_dt = sample_steps(spec, free_only) * dt
    rates = np.zeros((n_samples, n_in)) if rates is None else rates
    targets = np.zeros((n_samples, n_out)) if targets is None else targets
    kinds = np.full(n_samples, SAMPLE_EVAL if free_only else SAMPLE_TRAIN) \
        if kinds is None else kinds
    steps = phase_signals(spec, kinds, logging=log_neurons is not None, free_only=free_only)
    signals = {
        "stimulus": b2.TimedArray(padded_sample_signal(rates), dt=sample_dt, name="stimulus"),
        "target": b2.TimedArray(padded_sample_signal(targets), dt=sample_dt, name="target"),
        **{k: b2.TimedArray(v, dt=dt, name=k) for k, v in steps.items()},
    }
    tau_x = spec.spiking.tau_trace
    namespace = {**signals, "alpha": 1.0 / spec.spiking.tau_u, "beta": spec.phases.beta,
                 "tau_x": tau_x, "trace_decay": 1.0 - 1.0 / tau_x}
    ctx = BuildContext(spec, rule_for(spec), namespace, dt, sample_dt, count_events,
                       "snapshot" in steps, log_neurons, free_only)

    built = [build_layer(ctx, index, biases) for index in range(len(spec.layers))]
    layers = [group for group, _ in built]
    log_monitors = [monitor for _, monitor in built if monitor is not None]
    built = [EDGE_BUILDERS[edge.kind](ctx, edge, layers[edge.pre], layers[edge.post],
                                      None if weights is None else weights[k])
             for k, edge in enumerate(spec.edges)]
    synapses = [syn for syn, _, _ in built]
    monitor = b2.StateMonitor(layers[-1], "count", record=True, dt=sample_dt, when="start",
                              order=0, name="readout_monitor")
    network = b2.Network(*layers, *synapses, *(o for _, _, extra in built for o in extra),
                         monitor, *log_monitors)
    if layer_kind(spec, len(spec.layers) - 1) == "readout":
        network.add(*build_readout_normaliser(ctx, layers[-1]))
    event_monitor = None
    if count_events:
        objects, event_monitor = build_counters(ctx, layers)
        network.add(*objects)
    return SpikingNetwork(spec, n_samples, network, layers, synapses,
                          [holder for _, holder, _ in built], signals, monitor,
                          event_monitor, log_monitors, free_only,
                          _feedback_slots(spec, built))


def _feedback_slots(spec, built) -> list:
    """Per edge, the slot of its feedback weights B (one-way couplings): a dense edge's
    copy (``w``, in the upper layer's order), a conv edge's kernel (``wb``)."""
    from .synapses import feedback_edges

    own = set(feedback_edges(spec))
    slots = []
    for k, (edge, (syn, holder, extra)) in enumerate(zip(spec.edges, built)):
        if k not in own:
            slots.append(None)
        elif edge.kind == "conv":
            slots.append(WeightSlot(holder, "wb", gain=KERNEL_GAINS["wb"]))
        else:
            copy = next(o for o in extra if o.name == f"{syn.name}_feedback")
            slots.append(WeightSlot(copy, "w", transposed=True))
    return slots
