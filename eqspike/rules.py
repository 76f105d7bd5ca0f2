"""The EqSpike local weight rule and its variants, as Brian2 code strings.

Reference: Martin, E., Ernoult, M., Laydevant, J., Li, S., Querlioz, D., Petrisor, T. &
Grollier, J. "EqSpike: spike-driven equilibrium propagation for neuromorphic
implementations." iScience 24, 102222 (2021). Rate-based EP: Scellier & Bengio (2017);
symmetric nudging: Laborieux et al. (2021).

What every rule estimates
-------------------------
Equilibrium Propagation updates a weight by

    ΔW_ij = (η / β) · (ρ_i^β ρ_j^β − ρ_i^0 ρ_j^0)                                  (EP)

where ρ^0 are the rates at the free fixed point and ρ^β those at the nudged one. Symmetric
nudging (``[phases] nudging = "symmetric"``) runs a −β and a +β phase, both from the free
state, and uses

    ΔW_ij = (η / 2β) · (ρ_i^{+β} ρ_j^{+β} − ρ_i^{−β} ρ_j^{−β}),                    (EP±)

which cancels the O(β) bias of (EP). Both are one formula: a *positive* window (σ = +1: the
+β phase) minus a *negative* window (σ = −1: the last T_w = T2 free steps one-sided, the −β
phase symmetric), divided by β_eff = β (one-sided) or 2β (symmetric); see
:func:`effective_beta`. The phase sign σ(t) is a global broadcast, like a neuromodulator,
held by every neuron as ``learn`` (0 outside the windows and in evaluation samples).

Rule ``eqspike`` (default): spike-driven products of traces
-----------------------------------------------------------
Each neuron keeps a trace ``x`` of its own spikes (``x ← x(1 − 1/τ)`` every step,
``x += 1/τ`` on a spike), an estimate of its rate. Every synapse accumulates a signed Hebbian
signal, driven by spikes only::

    on a presynaptic spike:   H_ij += σ(t) · x_i        (x of the postsynaptic neuron)
    on a postsynaptic spike:  H_ij += σ(t) · x_j        (x of the presynaptic neuron)

A synapse reads a trace after that step's decay and before that step's spike, whose mean is
(1 − 1/τ)·ρ; so over a window of T_w steps E[Σ s_j x_i + s_i x_j] ≈ 2 T_w (1 − 1/τ) ρ_i ρ_j,
and at the end of each sample the weight moves by

    ΔW_ij = η / (2 β_eff T_w (1 − 1/τ)) · H_ij ≈ (EP) or (EP±),                  (EqSpike)

and the bias of neuron i, whose signal counts its own spikes (H_i += σ(t) per spike), by
Δb_i = η_b / (β_eff T_w) · H_i ≈ (η_b / β_eff)(ρ_i^+ − ρ_i^−).

As a spike-timing rule: a pair of spikes (pre at t_j, post at t_i, Δt = t_i − t_j ≠ 0) in
one window adds ``σ · (1/τ)(1 − 1/τ)^|Δt|`` to H_ij, whichever comes first: the rule's own pair
kernel is symmetric in Δt, and its sign is the phase's. A timing asymmetry in what is
measured during training comes from the network (a presynaptic spike raises the
postsynaptic drive one step later), not from the rule; :mod:`eqspike.plasticity.pairing`
measures the kernel and :mod:`eqspike.plasticity.stdp_log` what training does.

Why the negative term is spike-triggered too: spike-triggered products carry the causal
correlation that a product of mean rates lacks. Measuring the negative window with the
*same* spike-triggered product over a window of the same length makes that bias (nearly)
identical in both terms, and it cancels in the difference. A free term taken as a snapshot
of the traces does not cancel it: hidden rates drift upward and learning stalls (measured in
the prototype: 78% vs 86% on 5k MNIST samples). Applying the accumulated change once per
sample, rather than at every spike, avoids the positive feedback that diverged at rate-EP
learning rates.

Rule ``end_of_phase``: the non-continual ablation
-------------------------------------------------
Each neuron counts its spikes in the negative and in the positive window (n⁻, n⁺); at the
end of the sample

    ΔW_ij = η / (β_eff T_w²) · (n_i⁺ n_j⁺ − n_i⁻ n_j⁻),      Δb_i = η_b / (β_eff T_w) · (n_i⁺ − n_i⁻).

This is EP evaluated at the end of each phase from spike counts: the synapse must wait for
both windows' totals, so the rule is local in space but not in time, and it carries no
spike-timing information at all (its kernel is flat over each window).

A graded input
--------------
With ``[spiking] input_code = "graded"`` the clamped input does not spike at a rate: each
input neuron j sends one event at the start of the sample carrying its value r_j (see
:mod:`eqspike.spiking`), which is its exact rate ρ_j for the whole sample. The input pair's
update then needs no trace of the input: at a window spike of hidden neuron i,

    w_ij ← w_ij + lr_w · σ(t) · r_j,        lr_w = η / (β_eff T_w),

so over a sample ΔW_ij = (η/β_eff) r_j (n_i⁺ − n_i⁻)/T_w ≈ (EP) or (EP±) with the input's
exact rate in place of a spike estimate. Because r_j is constant, the sum over the hidden
neuron's window spikes factorises exactly: Σ σ(t) r_j = r_j H_i, with H_i = n_i⁺ − n_i⁻ the
phase-signed spike count the neuron already keeps for its bias. So the rule needs no
per-synapse accumulator: each input neuron with r_j > 0 sends a second event at the last step
of a training sample, and its synapses apply w_ij ← w_ij + lr_w r_j H_i
(:data:`GRADED_APPLY`), n_in·n_1 writes at most, fewer for sparse inputs (no event where
r_j = 0), instead of n_1 per window spike. The result equals the per-spike form exactly (up
to the order of floating-point sums): nothing in the sample reads w_ij after the first event
has delivered the drive Σ_j w_ij r_j, and the clamped input receives no feedback. Both rules
share this form, since for ``end_of_phase`` n_i⁺ n_j⁺ − n_i⁻ n_j⁻ becomes T_w r_j H_i.

Rule ``delta``: the product of the sent values, changed at graded events
---------------------------------------------------------------------------
With the delta code (``[spiking] code = "delta"``, :mod:`eqspike.spiking`; Loihi 2's
sigma-delta neurons) neuron i holds ρ̂_i, the value it last sent, and sends one graded event
carrying q_i = ρ_i(u) − ρ̂_i at a step where abs(q_i) reaches θ, then ρ̂_i ← ρ̂_i + q_i. The
product ρ̂_i ρ̂_j of two coupled neurons therefore changes only at their events, by

    Δ(ρ̂_i ρ̂_j) = ρ̂_i q_j  (j sends),   ρ̂_j q_i  (i sends),   ρ̂_i q_j + ρ̂_j q_i + q_i q_j  (both).

A synapse adds σ(t) times that change at each event, split between its two pathways so
that no pathway needs to know whether the other fires: at an event of the lower neuron j
(``on_pre``) it adds σ q_j (ρ̂_i + q_i), the upper neuron's value *after* this step (q_i
is 0 unless i sends at this step), and at an event of the upper neuron i (``on_post``)
σ q_i ρ̂_j, the lower neuron's value *before* it; the two terms sum to the change above in
each of the three cases. Over a phase of constant σ the signal telescopes: it is σ times
ρ̂_i ρ̂_j at the phase's end minus at its start. Symmetric nudging starts the −β phase (σ =
−1) and the +β phase (σ = +1) from the same free state (ρ̂ is restored with it), so that at
the end of a training sample the synapse holds exactly

    H_ij = ρ̂_i^{+β} ρ̂_j^{+β} − ρ̂_i^{−β} ρ̂_j^{−β}                           (delta, EP±)

(one-sided nudging: σ = +1 in the nudged phase only, H_ij = ρ̂_i^β ρ̂_j^β − ρ̂_i^0 ρ̂_j^0,
(EP) itself), and ΔW_ij = (η / β_eff) H_ij: EP's update with no trace, no window count and
no work between events. With ``[spiking] delta_flush`` every neuron sends its residual at
the last step of each phase, so that ρ̂ = ρ(u) where the rule reads it, and H_ij is EP's
update of the network's own states. The bias signal is the neuron's own telescoping sum,
H_i = Σ σ q_i = ρ̂_i^{+β} − ρ̂_i^{−β}, Δb_i = (η_b / β_eff) H_i; a graded input pair reads
r_j H_i (r_j is constant: its product with ρ̂_i changes by r_j q_i), and a conv kernel entry
the sum of its taps' signals, as for the other rules. This is a differential Hebbian rule
(Kosko 1986; Bengio et al. 2015, "STDP as presynaptic activity times rate of change of
postsynaptic activity", relate such a rule to STDP and to EP's update): it learns from the
co-occurrence of one neuron's change with the other's value, and it
needs both values at every event, which rules out rebuilding it from spike times
(STDP logging refuses this rule).

Every rule writes its weight change as ``UPDATE(w, Δw)``: the synapse's update
(:mod:`eqspike.synapses`), w ← clip(w + Δw, −w_max, w_max) for the ideal synapse, with the
decay, the noise and the rounding of ``[synapses]`` for a chip's.

Everything is local in space: a synapse reads only its own state, the two neurons it joins
and the broadcast σ(t). Names ending in ``_pre`` and ``_post`` are the neurons' variables;
``learn_post`` is σ(t) read through the postsynaptic neuron.

The learning-rate schedule (the third variant a researcher compares) is η_e = η·decay^e for
epoch e (0-based), ``[learning] decay``, constant within an epoch, or, with
``decay_every = "chunk"``, η·decay^(e + s/N) for a chunk starting s samples into an epoch of
N (:func:`schedule_position`); :meth:`eqspike.engine.Engine.learning_rates` applies it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from .errors import UsageError

__all__ = ["Pathway", "Rule", "RULES", "GRADED_APPLY", "PARTNER_VARIABLE", "UNBOUNDED",
           "DELTA_SIGNAL",
           "check_loggable",
           "NEURON_MODEL", "WINDOW_RATE", "APPLY_BIAS_UPDATE", "graded_edge", "read_mean",
           "effective_beta", "rule_for", "rule_scales", "schedule_position"]

#: ``w_max`` when no bound is set (finite: it travels on the standalone command line).
UNBOUNDED = 1e300

#: Per-neuron state shared by every rule: the neuron's own window signal H_i (its bias
#: update's, and a graded input pair's), the bias scale and the broadcast σ(t).
NEURON_MODEL = """
hebb_b : 1                   # H_i, the neuron's phase-signed window signal
lr_b : 1 (shared)            # see Rule.bias_scale
learn = learn_sign(t) : 1 (shared)
"""

#: How a neuron measures its own activity H_i over the learning windows
#: (``[learning] window_rate``; rules ``eqspike`` and ``end_of_phase``): its phase-signed
#: spike count (code run at its spikes), or the phase-signed sum of its rate state (code
#: run at every step, after the state update).
WINDOW_RATE = {"spikes": {"on_spike": "hebb_b += learn", "step": ""},
               "state": {"on_spike": "", "step": "hebb_b += learn * rho"}}

#: Run once per sample, at its boundary, on the neurons (before their state is reset).
APPLY_BIAS_UPDATE = "b += lr_b * hebb_b\nhebb_b = 0"

#: What a synapse reads of the other neuron at a spike (``[learning] partner``): its
#: spike trace, or its rate state ρ(u) (the input's: its pixel rate).
PARTNER_VARIABLE = {"trace": "x", "state": "rho"}


def read_mean(partner: str, tau_trace: float) -> float:
    """The mean of what a synapse reads, relative to the rate: (1 − 1/τ) for a trace (read
    after the step's decay, before the step's own spike), 1 for the rate state."""
    return 1.0 - 1.0 / tau_trace if partner == "trace" else 1.0


@dataclass(frozen=True)
class Pathway:
    """The rule's Brian2 strings on one layer pair: per-synapse state (``synapse_model``),
    code added to the spike pathways (``on_pre``, ``on_post``; empty: no spike needed),
    code run on every synapse at each sample boundary (``apply``; empty: none) and, for a
    graded pre layer, code run on the synapses of each pre neuron's event that closes a
    training sample (``on_sample_end``; empty: none)."""

    synapse_model: str
    on_pre: str
    on_post: str
    apply: str
    on_sample_end: str = ""


@dataclass(frozen=True)
class Rule:
    """One weight rule: its Brian2 strings and the scales that turn its signals into ΔW, Δb.

    ``spiking``: the pathway of a layer pair whose lower layer spikes; ``graded``: that of
    the input pair when the input is graded (``[spiking] input_code = "graded"``, see
    *A graded input* above). Per-neuron code, on every layer but a graded input:
    ``neuron_model`` (state), ``on_spike`` (at each spike), ``step`` (at every step, after
    the state update; ``{v}`` is the variable ``[learning] partner`` names), ``reset`` (at
    the sample boundary, after ``apply``), ``rewind`` (variables saved and restored with
    the free state under symmetric nudging); ``input_model``: what the input layer needs
    besides. On the hidden and output neurons: ``own`` (how H_i is measured: code at spikes
    and at steps; None: ``[learning] window_rate`` decides, :data:`WINDOW_RATE`) and
    ``bias_apply`` (at the boundary). ``accumulator``: the per-synapse signal both spike
    pathways add to and ``apply`` reads ("": none). ``spike_driven``: the synapses do work
    at spikes;
    ``free_window``: with one-sided nudging the last T2 free steps are a negative window
    (σ = −1); ``telescoping``: the signal is a sum of changes, so its scale has no 1/T_w.
    ``spike_signal``: the signal a synapse adds at a pre and at a post spike (ΔW = lr_w ×
    the sum: into ``accumulator`` until the boundary's ``apply``, or, with no accumulator,
    straight into w); a conv edge's taps add theirs into their kernel entry
    (:func:`eqspike.spiking.build_conv_edge`). Empty: the rule has no per-spike signal.
    ``exact_read``: the synapse reads the values the neurons sent, not a trace or a
    state (``[learning] partner`` does not apply; its read mean is 1).
    ``bias_each_step``: the bias moves at every window step (its own ``step`` code), not
    once at the boundary.
    """

    name: str
    spiking: Pathway
    graded: Pathway
    neuron_model: str = ""
    on_spike: str = ""
    step: str = ""
    reset: str = ""
    rewind: tuple = ()
    input_model: str = ""
    own: dict | None = None
    bias_apply: str = APPLY_BIAS_UPDATE
    accumulator: str = ""
    spike_driven: bool = True
    free_window: bool = True
    telescoping: bool = False
    spike_signal: tuple = ()
    exact_read: bool = False
    bias_each_step: bool = False

    def pathway(self, graded: bool, partner: str = "trace") -> Pathway:
        """The strings of a layer pair whose lower layer is graded (the input) or spikes;
        ``partner`` (``[learning] partner``) names what a synapse reads of the other neuron
        at a spike: its trace ``x`` or its rate state ``rho`` = ρ(u)."""
        path = self.graded if graded else self.spiking
        read = PARTNER_VARIABLE[partner]
        return Pathway(*(getattr(path, f.name).replace("{partner}", read)
                         for f in fields(Pathway)))

    def tap_signals(self, partner: str = "trace") -> tuple:
        """:attr:`spike_signal` (at a pre spike, at a post spike) with the variable
        ``partner`` names."""
        return tuple(s.replace("{partner}", PARTNER_VARIABLE[partner])
                     for s in self.spike_signal)

    def neuron_step(self, partner: str = "trace") -> str:
        """:attr:`step` with the variable ``partner`` names."""
        return self.step.replace("{v}", PARTNER_VARIABLE[partner])

    def own_signal(self, window_rate: str) -> dict:
        """How a hidden or output neuron accumulates H_i: {"on_spike": code, "step": code}."""
        return self.own if self.own is not None else WINDOW_RATE[window_rate]

    def weight_scale(self, eta: float, beta_eff: float, window_steps: int,
                     tau_trace: float, graded: bool = False, partner: str = "trace") -> float:
        """The factor ``lr_w`` that turns the synapse's signal into the EP weight update."""
        if self.telescoping:
            # a sum of changes of what the synapse reads: the EP difference itself
            return eta / (beta_eff * self.read_mean(partner, tau_trace))
        if graded:
            # both rules sum the input's value r_j over the post neuron's window signal
            return eta / (beta_eff * window_steps)
        if self.name == "eqspike":
            # a product read at both neurons' spikes, each with its read mean
            return eta / (2.0 * beta_eff * window_steps * read_mean(partner, tau_trace))
        return eta / (beta_eff * window_steps ** 2)

    def bias_scale(self, eta: float, beta_eff: float, window_steps: int,
                   tau_trace: float, partner: str = "trace") -> float:
        """The factor ``lr_b`` that turns the neuron's signal H_i into the EP bias update."""
        if self.telescoping:
            return eta / (beta_eff * self.read_mean(partner, tau_trace))
        return eta / (beta_eff * window_steps)

    def read_mean(self, partner: str, tau_trace: float) -> float:
        """:func:`read_mean` of what this rule's synapses read (1 for an exact read)."""
        return 1.0 if self.exact_read else read_mean(partner, tau_trace)


_SYNAPSE_SCALARS = """
lr_w : 1 (shared)            # see Rule.weight_scale
w_max : 1 (shared)           # |w| <= w_max after every update
"""

#: The input pair's update when the input is graded: w_ij += lr_w r_j H_i, at the input's
#: event that closes a training sample (see *A graded input*; ``UPDATE``: eqspike.synapses).
GRADED_APPLY = "UPDATE(w, lr_w * r_pre * hebb_b_post)"

#: The graded input pair's pathway, the same for every rule: nothing during the sample, the
#: factorised update at its end (each rule's H_i is what its neurons accumulate in hebb_b).
GRADED_PATHWAY = Pathway(synapse_model=_SYNAPSE_SCALARS, on_pre="", on_post="", apply="",
                         on_sample_end=GRADED_APPLY)

#: The EqSpike rule's signal at a pre spike and at a post spike: σ(t) times what the
#: synapse reads of the other neuron ({partner}: its trace, or its rate state).
EQSPIKE_SIGNAL = ("learn_post * {partner}_post", "learn_post * {partner}_pre")
#: The continual rule at a spike: the weight moves at once by the other neuron's change,
#: ΔW_ij = lr_w σ(t) Δv_other (the signal of a pre spike, of a post spike).
CONTINUAL_SIGNAL = ("learn_post * dv_post", "learn_post * dv_pre")
CONTINUAL_ON_PRE = f"UPDATE(w, lr_w * {CONTINUAL_SIGNAL[0]})"
CONTINUAL_ON_POST = f"UPDATE(w, lr_w * {CONTINUAL_SIGNAL[1]})"

#: The delta rule's signal at an event of the lower neuron (``_pre``) and of the upper one
#: (``_post``): σ(t) times the change of ρ̂_i ρ̂_j that the event makes (see *Rule delta*).
DELTA_SIGNAL = ("learn_post * q_pre * (rhohat_post + q_post)", "learn_post * q_post * rhohat_pre")

RULES = {
    "eqspike": Rule(
        name="eqspike",
        spiking=Pathway(
            synapse_model="hebb : 1  # H_ij, the phase-signed spike-triggered Hebbian signal\n"
                          + _SYNAPSE_SCALARS,
            on_pre=f"hebb += {EQSPIKE_SIGNAL[0]}",
            on_post=f"hebb += {EQSPIKE_SIGNAL[1]}",
            apply="UPDATE(w, lr_w * hebb)\nhebb = 0"),
        graded=GRADED_PATHWAY,
        accumulator="hebb",
        spike_signal=EQSPIKE_SIGNAL,
    ),
    "end_of_phase": Rule(
        name="end_of_phase",
        spiking=Pathway(
            synapse_model=_SYNAPSE_SCALARS, on_pre="", on_post="",
            apply="UPDATE(w, lr_w * (n_plus_pre * n_plus_post - n_minus_pre * n_minus_post))"),
        graded=GRADED_PATHWAY,
        neuron_model="n_minus : 1  # spikes in the negative window\n"
                     "n_plus : 1   # spikes in the positive window\n",
        on_spike="n_minus += int(learn < 0)\nn_plus += int(learn > 0)",
        reset="n_minus = 0\nn_plus = 0",
        input_model="learn = learn_sign(t) : 1 (shared)\n",
        spike_driven=False,
    ),
    "continual": Rule(
        name="continual",
        spiking=Pathway(synapse_model=_SYNAPSE_SCALARS, on_pre=CONTINUAL_ON_PRE,
                        on_post=CONTINUAL_ON_POST, apply=""),
        graded=GRADED_PATHWAY,
        neuron_model="v_prev : 1   # last step's value of what the synapses read\n"
                     "dv : 1       # its change over the last step\n",
        step="dv = {v} - v_prev\nv_prev = {v}",
        reset="v_prev = 0\ndv = 0",
        rewind=("v_prev",),
        input_model="learn = learn_sign(t) : 1 (shared)\n",
        own={"on_spike": "", "step": "hebb_b += learn * dv\nb += lr_b * learn * dv"},
        bias_apply="hebb_b = 0",
        free_window=False,
        telescoping=True,
        spike_signal=CONTINUAL_SIGNAL,
        bias_each_step=True,
    ),
    "delta": Rule(
        name="delta",
        spiking=Pathway(
            synapse_model="hebb : 1  # H_ij, the telescoping sum of sigma * d(rhohat_i rhohat_j)\n"
                          + _SYNAPSE_SCALARS,
            on_pre=f"hebb += {DELTA_SIGNAL[0]}",
            on_post=f"hebb += {DELTA_SIGNAL[1]}",
            apply="UPDATE(w, lr_w * hebb)\nhebb = 0"),
        graded=GRADED_PATHWAY,
        own={"on_spike": "hebb_b += learn * q", "step": ""},
        accumulator="hebb",
        free_window=False,
        telescoping=True,
        spike_signal=DELTA_SIGNAL,
        exact_read=True,
    ),
}


def rule_for(spec) -> Rule:
    """The :class:`Rule` a network definition selects (``[learning] rule``)."""
    return RULES[spec.learning.rule]


def graded_edge(spec, edge: int) -> bool:
    """Whether edge ``edge`` of the graph (its index in ``spec.edges``) leaves a graded
    layer: the input, with ``[spiking] input_code = "graded"``. The input may feed several
    layers (a skip coupling from it); each such edge is graded."""
    return spec.edges[edge].pre == 0 and spec.spiking.input_code == "graded"


def effective_beta(spec) -> float:
    """β_eff: β for one-sided nudging, 2β for symmetric (+β, −β) nudging."""
    return spec.phases.beta * spec.nudged_phases


def schedule_position(spec, epoch: int, done: int = 0, per_epoch: int = 1) -> float:
    """Where a chunk that starts ``done`` samples into ``epoch`` (0-based) of ``per_epoch``
    samples stands in the learning-rate schedule, in epochs: ``epoch`` itself
    (``[learning] decay_every = "epoch"``), or ``epoch + done / per_epoch`` ("chunk")."""
    if spec.learning.decay_every == "chunk":
        return epoch + done / per_epoch
    return float(epoch)


def rule_scales(spec, epoch: float = 0) -> tuple[list, list]:
    """``lr_w`` per edge of the graph and ``lr_b`` per non-input layer at ``epoch`` (0-based, a
    fraction within an epoch with ``decay_every = "chunk"``; see :func:`schedule_position`)
    of the schedule η_e = η · decay^e: what the rule multiplies its signals by."""
    learning = spec.learning
    factor = learning.decay ** epoch
    beta, window = effective_beta(spec), spec.phases.nudge_steps
    rule = rule_for(spec)
    tau, partner = spec.spiking.tau_trace, learning.partner
    lr_w = [rule.weight_scale(e * factor, beta, window, tau, graded=graded_edge(spec, k),
                              partner=partner)
            for k, e in enumerate(learning.rates)]
    lr_b = [rule.bias_scale(e * factor, beta, window, tau, partner)
            for e in learning.bias_rates]
    return lr_w, lr_b


def check_loggable(spec) -> None:
    """Raise :class:`~eqspike.errors.UsageError` unless every change of the rule can be
    rebuilt from spikes alone (what STDP logging does, :mod:`eqspike.plasticity.stdp_log`):
    a spike-driven rule reading spike traces, on layer pairs whose lower layer spikes."""
    if not rule_for(spec).spike_driven:
        raise UsageError(f"STDP logging needs a spike-driven rule; {spec.name} uses "
                         f"[learning] rule = {spec.learning.rule!r}")
    if spec.spiking.code == "delta":
        raise UsageError(f"STDP logging rebuilds changes from spike times; {spec.name}'s "
                         "delta code sends graded events whose changes depend on their "
                         "payloads, not on their timing alone")
    conv = [k for k, e in enumerate(spec.edges) if e.kind == "conv"]
    if conv:
        raise UsageError(f"STDP logging rebuilds the changes of dense edges; {spec.name}'s "
                         f"edge {conv[0]} is a conv edge (its taps share kernel entries)")
    if spec.spiking.input_code != "rate" or spec.learning.partner != "trace":
        raise UsageError(f"STDP logging rebuilds every weight change from spike traces; "
                         f"{spec.name} has [spiking] input_code = {spec.spiking.input_code!r} "
                         f"and [learning] partner = {spec.learning.partner!r} (log a network "
                         f"with input_code = \"rate\" and partner = \"trace\", e.g. "
                         f"networks/mnist-rate-coded.toml)")
