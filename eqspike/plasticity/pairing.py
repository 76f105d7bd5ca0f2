"""The STDP pairing protocol, run on eqspike's own trace, synapse and rule code.

The classic experiment (Bi & Poo 1998): a presynaptic and a postsynaptic neuron are made to
spike with a controlled offset Δt = t_post − t_pre, several times, and the net weight change
is measured for each Δt. Here each pairing is one learning episode of the rule: a negative
window (σ = −1, the free window) then a positive window (σ = +1, the nudged phase), each of
``window`` steps, with the rule's update applied at the episode's end. In both windows the
presynaptic neuron spikes once, at the window's centre. The postsynaptic neuron spikes at
centre + Δt in the nudged window only (``post_change="increase"``: its rate rises in the
nudged phase, as a neuron pulled toward its target does), or in the free window only
(``"decrease"``). Traces start from zero in every window, so pairings do not interact.

The neurons are the network's: the same trace code (``x ← x(1 − 1/τ)``, ``x += 1/τ`` on a
spike) and the same synapse strings (:mod:`eqspike.rules`); only their spike
times are imposed (a :class:`~brian2.TimedArray` replaces the rate code). One simulation
runs every offset side by side, one neuron pair per offset. The ``continual`` rule runs here
with its trace partner: the weight moves at once, at each spike, by the other neuron's
trace change over the last step.
"""

from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..rules import UNBOUNDED, graded_edge, rule_for, rule_scales
from ..spec import SynapsesSection
from ..synapses import expand_updates

__all__ = ["pairing_window"]

#: The neurons of the protocol: the network's trace, the broadcast σ(t), imposed spikes.
PAIRING_NEURON = """
x : 1
learn = learn_sign(t) : 1 (shared)
"""


def pairing_window(spec, offsets=range(-50, 51), pairings: int = 5,
                   post_change: str = "increase", edge: int = -1,
                   window: int | None = None) -> dict:
    """Net weight change per pairing for each offset Δt (steps), with the rule of ``spec``.

    The learning rate is that of edge ``edge`` of the graph (default: the last) in epoch 0, so the
    changes are in the units of the weights of a real run. Returns ``dt`` (offsets), ``dw``
    (pairings, offsets): each pairing's change, ``mean`` and ``sem`` over pairings, and the
    protocol's settings. Runs in Brian2's runtime mode (numpy target).
    """
    import brian2 as b2

    from ..spiking import TRACE_STEP

    if post_change not in ("increase", "decrease"):
        raise UsageError(f"post_change must be 'increase' or 'decrease', got {post_change!r}")
    offsets = np.asarray(list(offsets), dtype=int)
    reach = int(np.max(np.abs(offsets), initial=0))
    window = window or 2 * reach + 20
    centre = window // 2
    if centre + reach >= window or centre - reach < 0:
        raise UsageError(f"a window of {window} steps cannot hold offsets up to ±{reach}")
    rule = rule_for(spec)
    if graded_edge(spec, edge % len(spec.edges)):
        raise UsageError(f"edge {edge} leaves a graded input: its pre neuron does not "
                         "spike, so there is no pre spike to pair with")
    n, episode = len(offsets), 2 * window
    steps = pairings * episode + 1
    pre_spikes = np.zeros((steps, n))
    post_spikes = np.zeros((steps, n))
    sign = np.zeros(steps)
    for p in range(pairings):
        start = p * episode
        sign[start:start + window] = -1.0
        sign[start + window:start + episode] = 1.0
        pre_spikes[start + centre] = pre_spikes[start + window + centre] = 1.0
        paired = start + (window if post_change == "increase" else 0) + centre
        post_spikes[paired + offsets, np.arange(n)] = 1.0

    b2.set_device("runtime")
    b2.prefs.codegen.target = "numpy"
    dt = spec.spiking.dt_ms * b2.ms
    tau_x = spec.spiking.tau_trace
    namespace = {"learn_sign": b2.TimedArray(sign, dt=dt),
                 "pre_at": b2.TimedArray(pre_spikes, dt=dt),
                 "post_at": b2.TimedArray(post_spikes, dt=dt),
                 "tau_x": tau_x, "trace_decay": 1.0 - 1.0 / tau_x}
    groups = []
    for name, schedule in (("pre", "pre_at"), ("post", "post_at")):
        group = b2.NeuronGroup(n, PAIRING_NEURON + rule.neuron_model,
                               threshold=f"{schedule}(t, i) > 0",
                               reset="\n".join(c for c in ("x += 1 / tau_x", rule.on_spike) if c),
                               dt=dt, namespace=namespace, name=f"pairing_{name}")
        step = TRACE_STEP + ("\n" + rule.neuron_step("trace") if rule.step else "")
        group.run_regularly(step, when="groups")
        # every window starts from silence: the trace, and what a telescoping rule measured
        fresh = "x = 0" + ("\n" + rule.reset if rule.telescoping else "")
        group.run_regularly(fresh, dt=window * dt, when="start", order=0)
        if rule.reset and not rule.telescoping:
            group.run_regularly(rule.reset, dt=episode * dt, when="start", order=2)
        groups.append(group)
    if spec.learning.partner != "trace":
        raise UsageError("the pairing protocol imposes spike times, so it runs the rule on "
                         "spike traces ([learning] partner = \"trace\")")
    path = rule.pathway(graded=False, partner="trace")
    # the rule's own window: its updates land exactly (the ideal synapse of eqspike.synapses)
    ideal = SynapsesSection()
    pathways = {k: expand_updates(v, ideal) for k, v in (("on_pre", path.on_pre),
                                                          ("on_post", path.on_post)) if v}
    syn = b2.Synapses(groups[0], groups[1], model="w : 1\n" + path.synapse_model, dt=dt,
                      namespace=namespace, name="pairing_synapses", **pathways)
    syn.connect(j="i")
    lr_w = rule_scales(spec, 0)[0][edge]
    syn.lr_w, syn.w_max = lr_w, UNBOUNDED
    weight_log = b2.StateMonitor(syn, "w", record=True, dt=episode * dt, when="start",
                                 order=3)
    if path.apply:
        syn.run_regularly(expand_updates(path.apply, ideal), dt=episode * dt, when="start",
                          order=1)
    net = b2.Network(*groups, syn, weight_log)
    net.run(steps * dt, namespace={})
    weights = np.asarray(weight_log.w)                     # (n, pairings + 1) at episode starts
    dw = np.diff(weights, axis=1).T                        # (pairings, n)
    return {"dt": offsets, "dw": dw, "mean": dw.mean(axis=0),
            "sem": dw.std(axis=0, ddof=1) / np.sqrt(pairings) if pairings > 1
            else np.zeros(n), "lr_w": lr_w, "pairings": pairings, "window": window,
            "post_change": post_change, "rule": rule.name}
