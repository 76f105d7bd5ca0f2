"""Synapses as a chip has them: one-way couplings, weights of few bits, noisy updates.

The ideal model's coupling is one float64 weight W read in both directions, every update
landing exactly. ``[synapses]`` (:class:`eqspike.spec.SynapsesSection`) makes it a chip's:

* **one-way couplings** (``coupling = "asymmetric"``): the feedback direction of an edge
  has weights B of its own, of W's shape: the lower layer receives A(B)ᵀ s_post where the
  symmetric network's receives A(W)ᵀ s_post (the vector-field dynamics of Scellier et al.
  2018 and Ernoult et al. 2020's C-VF; Laborieux et al. 2021 trained "distinct forward and
  backward connections" with symmetric nudging). Each synapse learns from the two neurons
  it joins, so W and B receive the same EP change; started apart (``feedback_init =
  "independent"``) they stay apart by their initial difference unless ``decay`` shrinks
  both, which makes B align with W (the Kolen–Pollack effect, Akrout et al. 2019). Edges
  from the clamped input have no feedback.
* **weights of few bits** (``weight_bits`` = b > 0): a weight is one of the 2^b − 1 levels
  kδ with abs(k) ≤ 2^(b−1) − 1, δ = R / (2^(b−1) − 1) (R = ``weight_range``; b = 2: −R, 0, R),
  rounded at every update, deterministically or stochastically (Loihi's synapses hold
  1–9 bits and can round updates stochastically, Davies et al. 2018);
* **noisy updates**: each update multiplied by 1 + σ_c ξ (ξ ~ N(0, 1) drawn at every update:
  cycle-to-cycle, ``update_noise``) and by the weight's own gain g = 1 + σ_d ζ (ζ ~ N(0, 1)
  drawn once per weight from the run's seed: device-to-device, ``device_noise``).

Every weight update of both engines is the one equation

    w ← Q( clip( (1 − λ) w + g (1 + σ_c ξ) Δw,  −R, R ) )                    (update)

with Δw the rule's change and λ = ``decay``; R the range (``weight_range`` with bits, else
``[learning] weight_bound``, unbounded when 0); Q rounds to the grid of step δ:
deterministic Q(v) = δ⌊v/δ + ½⌋, stochastic Q(v) = δ⌊v/δ + u⌋ with u ~ U[0, 1), which is
unbiased (E Q(v) = v) and never leaves [−R, R]. With the defaults (λ = 0, no bits, no
noise) it is w ← clip(w + Δw, −R, R), the ideal update, bit for bit. The spiking engine
writes (update) as Brian2 code (:func:`expand_updates`: the rules write ``UPDATE(w, Δw)``),
the rate reference applies it in NumPy (:func:`apply_update`); initial weights are rounded
with Q (:func:`quantize`), and so are a float-trained network's for inference-only
quantization. Biases are neuron parameters and stay float.
"""

from __future__ import annotations

import numpy as np

__all__ = ["UPDATE", "level_step", "quantize", "apply_update", "expand_updates",
           "hardware_model", "device_gains", "feedback_edges", "run_scalars", "edge_ranges",
           "parameter_ranges"]

#: How a rule writes a weight's update in its Brian2 code: ``UPDATE(w, lr_w * hebb)``.
UPDATE = "UPDATE"


def level_step(bits: int, weight_range: float) -> float:
    """δ = R / (2^(b−1) − 1), the distance between two levels (0.0 for float weights)."""
    return weight_range / (2 ** (bits - 1) - 1) if bits else 0.0


def quantize(w, bits: int, weight_range: float, rounding: str = "deterministic", rng=None):
    """Q(clip(w, −R, R)) of (update), elementwise (float weights, ``bits`` 0: ``w`` as is)."""
    w = np.asarray(w, dtype=float)
    if not bits:
        return w
    step = level_step(bits, weight_range)
    v = np.clip(w, -weight_range, weight_range) / step
    dither = rng.random(v.shape) if rounding == "stochastic" else 0.5
    return step * np.floor(v + dither)


def apply_update(w, delta, sy, gain=None, rng=None, bound: float = 0.0):
    """(update) in NumPy: ``w`` after adding the rule's change ``delta`` under ``sy`` (a
    :class:`~eqspike.spec.SynapsesSection`); ``gain``: the weight's device gains (or None);
    ``rng``: draws ξ and the stochastic rounding; ``bound``: R, the weights' range with
    bits (:func:`edge_ranges`), else their bound (0: none)."""
    change = np.asarray(delta, dtype=float)
    if gain is not None:
        change = gain * change
    if sy.update_noise:
        change = change * (1.0 + sy.update_noise * rng.standard_normal(np.shape(change)))
    new = (1.0 - sy.decay) * w + change if sy.decay else w + change
    if sy.weight_bits:
        return quantize(new, sy.weight_bits, bound, sy.rounding, rng)
    return np.clip(new, -bound, bound) if bound else new


def hardware_model(sy, gains=("gain",)) -> str:
    """The Brian2 state (update) reads beyond ``lr_w`` and ``w_max``: the decay's factor,
    the noise's σ_c and the levels' step (shared, set per run), and, with device noise, a
    gain per weight for each name of ``gains`` (a conv kernel with one-way couplings has
    two weights per entry). Empty for the ideal synapse, so that its code is today's."""
    lines = []
    if sy.decay:
        lines.append("w_decay : 1 (shared)         # lambda")
    if sy.update_noise:
        lines.append("w_noise : 1 (shared)         # cycle-to-cycle sigma")
    if sy.weight_bits:
        lines.append("w_step : 1 (shared)          # the levels' step delta")
    if sy.device_noise:
        lines += [f"{name} : 1 # a weight's device gain" for name in gains]
    return "".join(line + "\n" for line in lines)


def _update_code(sy, target: str, delta: str, gain: str) -> str:
    change = f"({delta})"
    if sy.device_noise:
        change = f"{gain} * {change}"
    if sy.update_noise:
        change = f"{change} * (1 + w_noise * randn())"
    # the decay at a training sample's update only (``trained``: 1 at the boundary after
    # one, eqspike.schedule), not at the run's first boundary or an evaluation sample's
    kept = f"(1 - w_decay * trained(t)) * {target}" if sy.decay else target
    value = f"clip({kept} + {change}, -w_max, w_max)"
    if sy.weight_bits:
        dither = "rand()" if sy.rounding == "stochastic" else "0.5"
        value = f"w_step * floor({value} / w_step + {dither})"
    return f"{target} = {value}"


def expand_updates(code: str, sy, gains: dict | None = None) -> str:
    """``code`` with every ``UPDATE(target, delta)`` written out as (update) for ``sy``;
    ``gains``: the name of each target's device gain (default ``gain``)."""
    out, start = [], 0
    while True:
        at = code.find(UPDATE + "(", start)
        if at < 0:
            return "".join(out) + code[start:]
        depth, k = 0, at + len(UPDATE)
        for k in range(at + len(UPDATE), len(code)):
            depth += {"(": 1, ")": -1}.get(code[k], 0)
            if depth == 0:
                break
        target, delta = (part.strip() for part in code[at + len(UPDATE) + 1:k].split(",", 1))
        out.append(code[start:at] + _update_code(sy, target, delta,
                                                 (gains or {}).get(target, "gain")))
        start = k + 1


def edge_ranges(spec) -> list:
    """R per edge of the graph: its ``weight_range`` (one for all, or one per edge) with
    bits, else ``[learning] weight_bound`` (0: unbounded)."""
    sy = spec.synapses
    if not sy.weight_bits:
        return [spec.learning.weight_bound] * len(spec.edges)
    ranges = sy.weight_range
    return list(ranges) if len(ranges) == len(spec.edges) else [ranges[0]] * len(spec.edges)


def run_scalars(spec) -> list:
    """Per edge, the shared scalars of (update) for a run of ``spec``: ``w_max`` (R), and
    those of :func:`hardware_model` that exist."""
    from .rules import UNBOUNDED

    sy = spec.synapses
    out = []
    for bound in edge_ranges(spec):
        scalars = {"w_max": bound or UNBOUNDED}
        if sy.decay:
            scalars["w_decay"] = sy.decay
        if sy.update_noise:
            scalars["w_noise"] = sy.update_noise
        if sy.weight_bits:
            scalars["w_step"] = level_step(sy.weight_bits, bound)
        out.append(scalars)
    return out


def parameter_ranges(spec) -> dict:
    """R by weight array name (``W_pre_post``, ``B_pre_post``; the rate reference's
    read-out ``W_out`` takes its edge's), for :func:`apply_update` and :func:`quantize`."""
    out = {}
    for e, bound in zip(spec.edges, edge_ranges(spec)):
        out[f"W_{e.pre}_{e.post}"] = out[f"B_{e.pre}_{e.post}"] = bound
    out["W_out"] = edge_ranges(spec)[-1]
    return out


def feedback_edges(spec) -> list:
    """The edges (indices in ``spec.edges``) with feedback weights B of their own: every
    edge between two non-input layers, with ``coupling = "asymmetric"``."""
    if spec.synapses.coupling != "asymmetric":
        return []
    return [k for k, e in enumerate(spec.edges) if e.pre > 0]


def device_gains(spec, seed: int, shapes: dict) -> dict:
    """The device gains g = 1 + σ_d ζ of every weight array (``{name: shape}``, e.g.
    ``W_1_2``, ``B_1_2``), drawn from ``[seed, 7]`` in name order (None without device
    noise): the same weights get the same gains on both engines and across a resume."""
    sigma = spec.synapses.device_noise
    if not sigma:
        return {}
    rng = np.random.default_rng([int(seed), 7])
    return {name: 1.0 + sigma * rng.standard_normal(shapes[name]) for name in sorted(shapes)}
