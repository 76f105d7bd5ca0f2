"""Network definitions: the TOML file format, its validation and its defaults.

A network is declared in ``networks/NAME.toml`` (or any ``.toml`` path) and loaded into an
immutable :class:`NetworkSpec`. Every field carries its bounds; a bad value fails here, before
anything is built or compiled, with an error that names the file, the field and the valid
choices; a number must be finite (NaN and infinities are refused). The file has six
tables; a field left out takes the default its definition below gives (each section's
dataclass: the default, the bounds or choices, and a ``doc``)::

    [network]   description, dataset, layers, activation, path
    [spiking]   code, input_code, dt_ms, tau_u, tau_trace, readout_steps, precision
    [phases]    free_steps (T1), nudge_steps (T2), beta, nudge_anneal, nudging
    [learning]  rule, partner, window_rate, rates, bias_rates, decay, decay_every,
                weight_bound, init, init_gain
    [training]  epochs, train_samples, chunk_samples, seed
    [reference] the rate reference's fields (shapes, edges, rates, ..., precision)

The spec knows nothing of Brian2 or HDF5; :mod:`eqspike.spiking` builds from it and
:mod:`eqspike.runfile` stores it (:meth:`NetworkSpec.to_toml`: every field, as run).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import EqspikeError, shown

__all__ = [
    "SpecError",
    "NetworkSpec",
    "EdgeSpec",
    "CONV_FIELDS",
    "conv_output",
    "NETWORKS_DIR",
    "available_networks",
    "load_network",
    "spec_from_toml",
    "field_table",
]

#: The folder of named network definitions shipped with eqspike.
NETWORKS_DIR = Path(__file__).resolve().parent.parent / "networks"


class SpecError(EqspikeError, ValueError):
    """A network definition is unknown or invalid; the message names the field."""


def _f(default, *, lo=None, hi=None, choices=None, doc="", parse=None):
    """A field with bounds (inclusive) or a set of valid choices, checked on load; ``parse``
    (where, value) -> value replaces the generic check for structured fields."""
    return field(default=default, metadata={"lo": lo, "hi": hi, "choices": choices, "doc": doc,
                                            "parse": parse})


@dataclass(frozen=True)
class EdgeSpec:
    """One coupling of the network graph: ``pre`` → ``post`` (layer indices, input 0), one
    weight serving both directions; ``kind`` dense or conv (kernel, stride, zero padding,
    then average pooling). An edge between non-adjacent layers is a skip coupling."""

    pre: int
    post: int
    kind: str = "dense"
    kernel: int = 3
    stride: int = 1
    padding: int = 0
    pool: int = 1


#: The fields only a conv edge reads.
CONV_FIELDS = ("kernel", "stride", "padding", "pool")


def conv_output(pre_shape, post_shape, kernel: int, stride: int = 1, padding: int = 0,
                pool: int = 1, where: str = "a conv edge") -> tuple:
    """The rows and columns of a convolution of ``pre_shape`` (C_in, H, W) with a k×k kernel,
    stride s and zero padding P before its p×p pooling: ⌊(H + 2P − k)/s⌋ + 1 (and the same
    for W); :class:`SpecError` naming ``where`` unless the kernel fits the padded input, the
    pooling divides the output and ``post_shape`` is (C_out, rows/p, columns/p). The one
    check of a conv edge's geometry, for both engines."""
    c_in, h, w = pre_shape
    k, s, p = kernel, stride, padding
    if k > h + 2 * p or k > w + 2 * p:
        raise SpecError(f"{where}: a {k}x{k} kernel does not fit an input of shape "
                        f"{list(pre_shape)} with padding {p}")
    rows, cols = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    if rows % pool or cols % pool:
        raise SpecError(f"{where}: pooling {pool} does not divide the convolution's output "
                        f"{rows}x{cols} (kernel {k}, stride {s}, padding {p})")
    expected = (post_shape[0], rows // pool, cols // pool)
    if tuple(post_shape) != expected:
        raise SpecError(f"{where}: a convolution from {list(pre_shape)} (kernel {k}, stride "
                        f"{s}, padding {p}, pool {pool}) gives shape {list(expected)}, but the "
                        f"layer has shape {list(post_shape)}")
    return rows, cols


def _parse_shapes(where: str, value) -> tuple:
    if not isinstance(value, (list, tuple)):
        raise SpecError(f"{where}: expected a list of shapes, e.g. [[1, 28, 28], [512], [10]]")
    out = []
    for k, shape in enumerate(value):
        if (not isinstance(shape, (list, tuple)) or len(shape) not in (1, 3)
                or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1
                           for n in shape)):
            raise SpecError(f"{where}[{k}]: a shape is [n] or [channels, height, width] of "
                            f"positive integers, got {shown(shape)}")
        out.append(tuple(shape))
    return tuple(out)


def _parse_edges(where: str, value) -> tuple:
    if not isinstance(value, (list, tuple)):
        raise SpecError(f"{where}: expected a list of tables, e.g. "
                        "[{pre = 0, post = 1, kind = \"conv\", kernel = 3, pool = 2}]")
    names = {f.name: f for f in dataclasses.fields(EdgeSpec)}
    out = []
    for k, edge in enumerate(value):
        if isinstance(edge, EdgeSpec):
            edge = dataclasses.asdict(edge)
        if not isinstance(edge, dict):
            raise SpecError(f"{where}[{k}]: expected a table {{pre = .., post = .., ...}}")
        unknown = set(edge) - set(names)
        missing = {"pre", "post"} - set(edge)
        if unknown or missing:
            raise SpecError(f"{where}[{k}]: " + (f"unknown key(s) {', '.join(sorted(unknown))}"
                            if unknown else f"missing {', '.join(sorted(missing))}")
                            + f"; valid: {', '.join(names)}")
        for key, v in edge.items():
            if key == "kind":
                if v not in ("dense", "conv"):
                    raise SpecError(f"{where}[{k}].kind: {v!r} is not one of dense, conv")
            elif not isinstance(v, int) or isinstance(v, bool) or v < (0 if key in
                                                                       ("pre", "post", "padding")
                                                                       else 1):
                raise SpecError(f"{where}[{k}].{key}: expected a "
                                f"{'non-negative' if key in ('pre', 'post', 'padding') else 'positive'}"
                                f" integer, got {shown(v)}")
        out.append(EdgeSpec(**edge))
    return tuple(out)


@dataclass(frozen=True)
class NetworkSection:
    description: str = _f("", doc="one line, shown by 'eqspike networks'")
    dataset: str = _f("mnist", choices=("mnist", "fashion-mnist"),
                      doc="the official IDX files under $EQSPIKE_DATA/NAME (eqspike.data)")
    layers: tuple = _f((784, 500, 10), lo=1, doc="neurons per layer, input first")
    shapes: tuple = _f((), parse=_parse_shapes,
                       doc="per layer [n] or [C, H, W] (default: the flat layers)")
    edges: tuple = _f((), parse=_parse_edges,
                      doc="the graph's couplings {pre, post, kind, kernel, stride, padding, "
                          "pool}, each one weight for both directions (default: dense, each "
                          "layer to the next: layers = [784, 500, 10] is the short form of "
                          "a dense chain); pre and post need not be adjacent (skip "
                          "couplings)")
    activation: str = _f("hard_sigmoid", choices=("hard_sigmoid", "clipped_relu", "sigmoid"),
                         doc="rho; the spiking path codes rates rho(u) in [0, 1] and takes "
                             "hard_sigmoid only")
    path: str = _f("spiking", choices=("spiking", "rate"),
                   doc="what 'eqspike train' runs: the Brian2 spiking network, or the NumPy "
                       "rate reference (eqspike.reference)")


@dataclass(frozen=True)
class SpikingSection:
    code: str = _f("sigma_delta", choices=("sigma_delta", "bernoulli", "delta"),
                   doc="how a hidden or output neuron sends rho(u): sigma_delta, binary "
                       "spikes at rate rho (a first-order sigma-delta modulator: "
                       "accumulate rho, spike and subtract 1 at 1); bernoulli, a spike "
                       "with probability rho; delta, graded events that carry the "
                       "change of rho once it reaches delta_theta (Loihi 2's sigma-delta "
                       "neurons; needs input_code = \"graded\" and rule = \"delta\"; "
                       "see eqspike.spiking)")
    input_code: str = _f("rate", choices=("rate", "graded"),
                         doc="rate: input neurons emit their pixel values in `code`, every "
                             "step; graded: one event per non-zero pixel at the sample's "
                             "start, carrying the value (see eqspike.spiking)")
    delta_theta: float = _f(0.0625, lo=0.0, hi=1.0,
                            doc="code = \"delta\": a neuron sends an event when |rho(u) - "
                                "rho_hat| reaches this threshold in a free step (rho_hat: "
                                "the value it last sent); 0 sends every change")
    delta_theta_nudged: float = _f(0.0625, lo=0.0, hi=1.0,
                                   doc="code = \"delta\": the threshold in the nudged "
                                       "phases, where the changes EP reads are of order "
                                       "beta")
    delta_flush: bool = _f(True, doc="code = \"delta\": at the last step of every phase "
                                     "each neuron sends its residual rho(u) - rho_hat "
                                     "(threshold 0), so that rho_hat = rho(u) where EP "
                                     "reads the states")
    dt_ms: float = _f(1.0, lo=1e-3, hi=100.0, doc="one EP step of simulated time")
    tau_u: float = _f(2.0, lo=1.0, hi=1000.0, doc="steps; u relaxes toward the EP drive")
    tau_trace: float = _f(5.0, lo=1.0, hi=1000.0, doc="steps; spike trace time constant")
    readout_steps: int = _f(20, lo=1, doc="last free steps whose output spikes are counted")
    precision: str = _f("float64", choices=("float64", "float32"),
                        doc="dtype of every state variable and weight in the simulation")
    loss: str = _f("mse", choices=("mse", "cross_entropy"),
                   doc="mse: the output layer is a layer of the network, nudged by beta (y - "
                       "rho(u)); cross_entropy: the output layer is a softmax read-out of "
                       "the last hidden layer, outside the energy, whose neurons send beta "
                       "(y - softmax) back as the nudge (Laborieux et al. 2021; code = "
                       "\"delta\" only; see eqspike.spiking). [reference] loss is the "
                       "same choice on the rate path")
    feedback: str = _f("shared", choices=("shared", "copy"),
                       doc="how an edge between two spiking layers feeds its lower layer: "
                           "shared: through the on_post pathway of its one Synapses object, "
                           "reading W in the lower layer's order (strided in memory); copy: "
                           "through a second Synapses object in the upper layer's order "
                           "holding W transposed, refreshed from W at every sample boundary "
                           "(the same deliveries, contiguous in memory; for rules that change "
                           "W only at sample boundaries; see eqspike.spiking)")


@dataclass(frozen=True)
class PhaseSection:
    free_steps: int = _f(40, lo=1, doc="T1")
    nudge_steps: int = _f(20, lo=1, doc="T2: each nudged phase, and every learning window")
    beta: float = _f(1.0, lo=1e-6, hi=100.0, doc="the nudging strength")
    nudge_anneal: float = _f(1.0, lo=0.01, hi=1.0,
                             doc="spiking path: the step size alpha = 1/tau_u falls linearly "
                                 "over each nudged phase to nudge_anneal * alpha at its last "
                                 "step (1: constant), an annealed step size after O'Connor et "
                                 "al. 2019, so that the phase's end state carries less spike "
                                 "noise")
    nudging: str = _f("one_sided", choices=("one_sided", "symmetric"),
                      doc="one_sided: free window vs +beta phase; symmetric: a -beta phase "
                          "then a +beta phase, both from the free state (Laborieux et al. "
                          "2021)")


@dataclass(frozen=True)
class LearningSection:
    rule: str = _f("eqspike", choices=("eqspike", "end_of_phase", "continual", "delta"),
                   doc="eqspike: spike-driven products of traces, applied at the sample's "
                       "end; end_of_phase: products of the windows' spike counts; "
                       "continual: at each spike the weight moves at once by the other "
                       "neuron's change (C-EP); delta: at each graded event the change "
                       "of the product of the two sent values, applied at the sample's "
                       "end (code = \"delta\" only; see eqspike.rules)")
    partner: str = _f("trace", choices=("trace", "state"),
                      doc="what a synapse reads of the other neuron at a spike (the "
                          "continual rule: the change of it), its spike trace x or its rate "
                          "state rho(u)")
    window_rate: str = _f("spikes", choices=("spikes", "state"),
                          doc="eqspike and end_of_phase rules: how a neuron measures its own "
                              "activity H_i over the learning windows (its bias; the input "
                              "pair with a graded input): "
                              "spikes, n+ - n-; state, the signed sum of rho(u) (sigma-delta: "
                              "the count plus the accumulator's residual)")
    rates: tuple = _f((0.02, 0.01), lo=0.0, hi=10.0,
                      doc="eta per edge of [network] edges (a dense chain: per layer pair)")
    bias_rates: tuple = _f((0.02, 0.01), lo=0.0, hi=10.0, doc="eta per non-input layer")
    decay: float = _f(1.0, lo=0.0, hi=1.0, doc="rates of epoch e (0-based) are eta * decay**e")
    decay_every: str = _f("epoch", choices=("epoch", "chunk"),
                          doc="epoch: eta * decay**e, constant within epoch e; chunk: eta * "
                              "decay**(e + s/N) for a chunk that starts s samples into an "
                              "epoch of N (the same rate at each epoch's start, annealed "
                              "smoothly within it)")
    weight_bound: float = _f(0.0, lo=0.0, hi=1e6, doc="|w| <= weight_bound after every "
                             "update (0: unbounded)")
    init: str = _f("uniform_fan_in", choices=("uniform_fan_in",),
                   doc="initial weights uniform in +-init_gain/sqrt(fan-in) (eqspike.parameters)")
    init_gain: float = _f(1.0, lo=0.0, hi=100.0, doc="the initial weights' scale")


@dataclass(frozen=True)
class SynapsesSection:
    """What a chip's synapses do that the ideal model's do not (both engines read it;
    :mod:`eqspike.synapses`): one-way couplings with their own feedback weights, weights of
    few bits, noisy updates. The defaults are the ideal synapse: one float weight per
    coupling, read both ways, every update exact."""

    coupling: str = _f("symmetric", choices=("symmetric", "asymmetric"),
                       doc="symmetric: one weight W serves both directions of a coupling; "
                           "asymmetric: the feedback direction has weights B of its own "
                           "(vector-field EP, Ernoult et al. 2020; a chip's one-way "
                           "synapses), each synapse learning from the two neurons it joins "
                           "(the spiking path: feedback = \"copy\"; edges from the clamped "
                           "input have no feedback)")
    feedback_init: str = _f("independent", choices=("independent", "transpose"),
                            doc="asymmetric: B drawn independently of W (as W, from the "
                                "run's seed), or starting equal to W (then, without decay "
                                "or noise, the run is the symmetric one)")
    decay: float = _f(0.0, lo=0.0, hi=1.0,
                      doc="every weight, W and B, shrinks by this fraction at each update "
                          "before it adds its change (w <- (1 - decay) w + dw): with "
                          "asymmetric couplings B then aligns with W (the Kolen-Pollack "
                          "effect)")
    weight_bits: int = _f(0, lo=0, hi=16,
                          doc="0: float weights; b: signed weights of b bits, 2^(b-1) - 1 "
                              "levels each side of 0 in +-weight_range (2: ternary), every "
                              "weight rounded to them at every update and at the start")
    weight_range: tuple = _f((1.0,), lo=1e-6, hi=1e3,
                             doc="weight_bits > 0: the largest weight (the bits' range R), "
                                 "one for every edge or one per edge of [network] edges "
                                 "(an edge's feedback weights B take its range); a chip "
                                 "scales each core's weights, and an input layer's weights "
                                 "are ten times smaller than an output layer's")
    rounding: str = _f("deterministic", choices=("deterministic", "stochastic"),
                       doc="weight_bits > 0: round every updated weight to the nearest "
                           "level, or up or down with the probabilities that make the "
                           "rounding unbiased (Loihi's stochastic rounding)")
    update_noise: float = _f(0.0, lo=0.0, hi=10.0,
                             doc="cycle-to-cycle variability: each update of each weight "
                                 "is multiplied by 1 + update_noise * N(0, 1), drawn anew")
    device_noise: float = _f(0.0, lo=0.0, hi=10.0,
                             doc="device-to-device variability: each weight's updates are "
                                 "multiplied by its own gain 1 + device_noise * N(0, 1), "
                                 "drawn once from the run's seed")


@dataclass(frozen=True)
class TrainingSection:
    epochs: int = _f(1, lo=1, doc="passes over the train_samples")
    train_samples: int = _f(60000, lo=1, doc="samples per epoch (the first N, reshuffled)")
    chunk_samples: int = _f(1000, lo=1, doc="samples per compiled run; checkpoint period")
    seed: int = _f(1, lo=0, hi=2 ** 32 - 1,
                   doc="the initial weights, the sample order and any spike noise")
    shift: int = _f(0, lo=0, hi=8,
                    doc="data augmentation: each training image is translated by up to this "
                        "many pixels along each axis (zero fill), a shift drawn per image "
                        "and epoch from the run's seed (eqspike.data.random_shifts); test "
                        "images never move; 0: none")


@dataclass(frozen=True)
class ReferenceSection:
    """Fields only the rate reference (eqspike.reference) reads; the spiking path ignores
    them. It shares [network] (the graph), [phases] (T1, T2, beta), [learning] rates and
    init_gain, and [training] with the spiking path."""

    readout_rate: float = _f(0.01, lo=0.0, hi=10.0, doc="cross_entropy: the read-out's rate")
    dynamics: str = _f("prototypical", choices=("prototypical", "primitive"),
                       doc="prototypical: u <- u + leak (dPhi/drho - u), s = rho(u); "
                           "primitive: s_{t+1} = dPhi_eps/ds (Ernoult et al.'s theorem)")
    leak: float = _f(1.0, lo=1e-3, hi=1.0, doc="prototypical: 1 gives s_{t+1} = rho(dPhi/ds)")
    epsilon: float = _f(0.5, lo=1e-3, hi=1.0,
                        doc="primitive: Phi_eps = (1 - eps)|s|^2/2 + eps Phi(rho(s))")
    clip: float = _f(1.0, lo=1e-3, hi=1e3, doc="c of the clipped ReLU min(max(u, 0), c)")
    loss: str = _f("mse", choices=("mse", "cross_entropy"),
                   doc="mse: nudge beta (y - s_out); cross_entropy: softmax read-out of the "
                       "last layer, nudge -beta dCE/ds")
    estimator: str = _f("symmetric", choices=("one_sided", "random_sign", "symmetric"),
                        doc="the EP gradient estimate: +beta only, +-beta drawn at random, or "
                            "the difference of +beta and -beta (Laborieux et al. 2021)")
    continual: bool = _f(False, doc="update the weights at every nudged step (C-EP)")
    optimizer: str = _f("sgd", choices=("sgd", "adam"), doc="the step taken with the estimate")
    momentum: float = _f(0.0, lo=0.0, hi=0.999, doc="sgd: heavy-ball momentum")
    weight_decay: float = _f(0.0, lo=0.0, hi=1.0, doc="L2 decay of the weights per step")
    batch_size: int = _f(50, lo=1, doc="samples settled together, one update per batch")
    precision: str = _f("float64", choices=("float64", "float32"),
                        doc="dtype of the states, parameters, inputs and updates; float32 "
                            "halves the memory traffic and the cost of each product, float64 "
                            "is what the GDU and finite-difference checks are exact in")


_SECTIONS = {
    "network": NetworkSection,
    "spiking": SpikingSection,
    "phases": PhaseSection,
    "learning": LearningSection,
    "synapses": SynapsesSection,
    "training": TrainingSection,
    "reference": ReferenceSection,
}


def field_table() -> list:
    """Every field of a network file, as this module defines it: ``(section, name, default,
    valid values, doc)`` rows (valid values: the choices, or the inclusive bounds), in file
    order. The documentation's table of fields is generated from it."""
    rows = []
    for section, cls in _SECTIONS.items():
        for f in dataclasses.fields(cls):
            meta = f.metadata
            if meta.get("choices"):
                valid = ", ".join(meta["choices"])
            elif meta.get("lo") is not None or meta.get("hi") is not None:
                lo = "" if meta.get("lo") is None else f"{meta['lo']:g} ≤ "
                hi = "" if meta.get("hi") is None else f" ≤ {meta['hi']:g}"
                valid = f"{lo}x{hi}" + (" (each)" if isinstance(f.default, tuple) else "")
            else:
                valid = ""
            default = f.default
            text = (json.dumps(list(default)) if isinstance(default, tuple)
                    else json.dumps(default))
            rows.append((section, f.name, text, valid, meta.get("doc", "")))
    return rows


@dataclass(frozen=True)
class NetworkSpec:
    """A validated network definition (immutable). Build it with :func:`load_network`."""

    name: str
    network: NetworkSection = NetworkSection()
    spiking: SpikingSection = SpikingSection()
    phases: PhaseSection = PhaseSection()
    learning: LearningSection = LearningSection()
    synapses: SynapsesSection = SynapsesSection()
    training: TrainingSection = TrainingSection()
    reference: ReferenceSection = ReferenceSection()

    def __post_init__(self):
        layers = self.network.layers
        if len(layers) < 2:
            raise SpecError(f"{self.name}: [network] layers needs at least 2 layers, got {layers}")
        self._check_graph()
        self._check_synapses()
        if self.network.path == "rate":
            return
        if self.network.activation != "hard_sigmoid":
            raise SpecError(f"{self.name}: [network] activation {self.network.activation!r}: "
                            "the spiking path codes rates in [0, 1] and takes hard_sigmoid "
                            "only (set [network] path = \"rate\" for the rate reference)")
        spiking_conv = [k for k, e in enumerate(self.edges)
                        if e.kind == "conv" and not (e.pre == 0 and
                                                     self.spiking.input_code == "graded")]
        if spiking_conv and self.learning.rule == "end_of_phase":
            k = spiking_conv[0]
            raise SpecError(
                f"{self.name}: [network] edges[{k}] is a conv edge between spiking layers: "
                f"its shared kernel learns from the taps' summed signals (the eqspike and "
                f"continual rules); [learning] rule = {self.learning.rule!r} is not built "
                "for conv edges")
        self._check_code()
        if self.spiking.feedback == "copy" and self.learning.rule == "continual":
            raise SpecError(f"{self.name}: [spiking] feedback = \"copy\" needs a rule that "
                            "changes the weights only at sample boundaries; the continual "
                            "rule moves them at every spike (use feedback = \"shared\")")
        n_pairs = len(layers) - 1
        if len(self.learning.bias_rates) != n_pairs:
            raise SpecError(f"{self.name}: [learning] bias_rates needs {n_pairs} values (one "
                            f"per non-input layer), got {len(self.learning.bias_rates)}")
        if self.spiking.readout_steps > self.phases.free_steps:
            raise SpecError(f"{self.name}: [spiking] readout_steps "
                            f"({self.spiking.readout_steps}) exceeds free_steps "
                            f"({self.phases.free_steps})")
        one_sided = self.phases.nudging == "one_sided"
        if one_sided and self.phases.nudge_steps > self.phases.free_steps:
            raise SpecError(f"{self.name}: [phases] nudge_steps ({self.phases.nudge_steps}) "
                            f"exceeds free_steps ({self.phases.free_steps}): the free learning "
                            "window has the nudged phase's length and must fit in the free phase")

    def _check_synapses(self) -> None:
        """[synapses]: a field that the others make idle is refused, not ignored; the
        spiking path's one-way couplings live in the feedback copies."""
        sy, where = self.synapses, f"{self.name}: [synapses]"
        defaults = SynapsesSection()
        if sy.weight_bits == 0:
            for name in ("weight_range", "rounding"):
                if getattr(sy, name) != getattr(defaults, name):
                    raise SpecError(f"{where} {name} applies to weights of few bits; "
                                    "weight_bits = 0 keeps them float")
        if len(sy.weight_range) not in (1, len(self.edges)):
            raise SpecError(f"{where} weight_range needs 1 value or {len(self.edges)} (one "
                            f"per edge), got {len(sy.weight_range)}")
        if sy.weight_bits == 1:
            raise SpecError(f"{where} weight_bits = 1: a signed weight needs 2 bits or more "
                            "(2: the three levels -range, 0, +range)")
        if sy.coupling == "symmetric" and sy.feedback_init != defaults.feedback_init:
            raise SpecError(f"{where} feedback_init applies to coupling = \"asymmetric\"")
        if self.network.path == "spiking" and sy.coupling == "asymmetric":
            if self.spiking.feedback != "copy":
                raise SpecError(f"{where} coupling = \"asymmetric\": the feedback weights B "
                                "live in the second Synapses object of [spiking] feedback = "
                                "\"copy\"; set it")
        if sy.decay and self.network.path == "spiking" and self.learning.rule == "continual":
            raise SpecError(f"{where} decay shrinks the weights at each sample's update; the "
                            "continual rule moves them at every spike")
        if sy.weight_bits and self.learning.weight_bound:
            raise SpecError(f"{self.name}: [learning] weight_bound and [synapses] weight_bits "
                            "both bound the weights; weight_range is the bound of weights of "
                            "few bits")

    def check_dataset(self) -> None:
        """The graph against the images it will see (``[network] dataset``), what every
        command that runs a network checks before it creates anything: the input layer
        holds one image (its shape, if given, the images' own), the output one neuron per
        class, and an epoch no more samples than the training set has. (A network that
        no dataset feeds, a unit test's, need not pass it.)"""
        from .data import DATASETS

        data = DATASETS[self.network.dataset]
        image, classes = data["shape"], data["classes"]
        where, name = f"{self.name}: [network]", self.network.dataset
        pixels = image[0] * image[1] * image[2]
        if self.layers[0] != pixels:
            raise SpecError(f"{where} layers[0] = {self.layers[0]}: {name} images have "
                            f"{pixels} pixels ({'x'.join(map(str, image))}), one input "
                            "neuron each")
        if self.shapes[0] not in ((pixels,), tuple(image)):
            raise SpecError(f"{where} shapes[0] = {list(self.shapes[0])}: {name} images are "
                            f"{list(image)} (or the flat [{pixels}])")
        if self.layers[-1] != classes:
            raise SpecError(f"{where} layers[-1] = {self.layers[-1]}: {name} has {classes} "
                            "classes, one output neuron each")
        size = data["sizes"]["train"]
        if self.training.train_samples > size:
            raise SpecError(f"{self.name}: [training] train_samples = "
                            f"{self.training.train_samples}: {name}'s training set has "
                            f"{size} images")

    def _check_code(self) -> None:
        """The delta code and its rule go together, with a graded input; its fields are
        refused, not ignored, under another code."""
        code, rule = self.spiking.code, self.learning.rule
        if code == "delta" and rule != "delta":
            raise SpecError(f"{self.name}: [spiking] code = \"delta\" sends graded changes, "
                            f"which [learning] rule = {rule!r} cannot read; use rule = "
                            "\"delta\"")
        if rule == "delta" and code != "delta":
            raise SpecError(f"{self.name}: [learning] rule = \"delta\" reads the graded "
                            f"events of [spiking] code = \"delta\", not {code!r}")
        if code == "delta" and self.spiking.input_code != "graded":
            raise SpecError(f"{self.name}: [spiking] code = \"delta\" needs input_code = "
                            "\"graded\" (an input's value is constant over a sample: its "
                            "one delta event is the graded input's event)")
        if self.spiking.loss == "cross_entropy":
            self._check_readout()
        if code != "delta":
            defaults = SpikingSection()
            changed = [name for name in ("delta_theta", "delta_theta_nudged", "delta_flush")
                       if getattr(self.spiking, name) != getattr(defaults, name)]
            if changed:
                raise SpecError(f"{self.name}: [spiking] {changed[0]} applies to code = "
                                f"\"delta\" only; this network has code = {code!r}")

    def _check_readout(self) -> None:
        """The spiking cross-entropy read-out: signed graded events, one dense edge into it
        from a hidden layer, and the couplings its rate twin has."""
        where = f"{self.name}: [spiking] loss = \"cross_entropy\""
        if self.spiking.code != "delta":
            raise SpecError(f"{where}: the read-out sends the signed error beta (y - "
                            "softmax) as graded events; it needs code = \"delta\", not "
                            f"{self.spiking.code!r}")
        last = len(self.layers) - 1
        into = [e for e in self.edges if e.post == last]
        if len(into) != 1 or into[0].kind != "dense" or into[0].pre != last - 1 or last < 2:
            raise SpecError(f"{where}: the read-out's only edge is dense, from the last "
                            f"hidden layer (layer {last - 1}) into the output (layer {last})")
        if self.synapses.coupling != "symmetric":
            raise SpecError(f"{where}: the read-out is built for symmetric couplings; "
                            "[synapses] coupling = \"asymmetric\" is not")

    def _check_graph(self) -> None:
        """The graph of [network]: shapes that hold the layers, edges that join existing
        layers upward and feed every layer, one learning rate per edge."""
        layers, where = self.network.layers, f"{self.name}: [network]"
        shapes, edges = self.shapes, self.edges
        if len(shapes) != len(layers):
            raise SpecError(f"{where} shapes has {len(shapes)} layers, layers {len(layers)}")
        for k, (shape, n) in enumerate(zip(shapes, layers)):
            size = 1
            for d in shape:
                size *= d
            if size != n:
                raise SpecError(f"{where} shapes[{k}] = {list(shape)} holds {size} neurons, "
                                f"but layers[{k}] = {n}")
        for k, e in enumerate(edges):
            if not 0 <= e.pre < e.post < len(layers):
                raise SpecError(f"{where} edges[{k}]: needs 0 <= pre < post < {len(layers)}, "
                                f"got pre = {e.pre}, post = {e.post}")
            if e.kind == "conv" and (len(shapes[e.pre]) != 3 or len(shapes[e.post]) != 3):
                raise SpecError(f"{where} edges[{k}]: a conv edge joins [C, H, W] layers, got "
                                f"{list(shapes[e.pre])} -> {list(shapes[e.post])}")
            if e.kind == "conv":
                conv_output(shapes[e.pre], shapes[e.post], e.kernel, e.stride, e.padding,
                            e.pool, where=f"{where} edges[{k}]")
            elif any(getattr(e, f) != getattr(EdgeSpec, f) for f in CONV_FIELDS):
                raise SpecError(f"{where} edges[{k}]: kernel, stride, padding and pool belong "
                                "to a conv edge; this one is dense (add kind = \"conv\")")
        pairs = [(e.pre, e.post) for e in edges]
        twice = sorted({p for p in pairs if pairs.count(p) > 1})
        if twice:
            raise SpecError(f"{where} edges: more than one edge joins layers "
                            f"{', '.join(f'{a} -> {b}' for a, b in twice)}")
        fed = {e.post for e in edges}
        unfed = [k for k in range(1, len(layers)) if k not in fed]
        if unfed:
            raise SpecError(f"{where} edges: layer(s) {unfed} receive no edge")
        if len(self.learning.rates) != len(edges):
            raise SpecError(f"{self.name}: [learning] rates needs {len(edges)} values (one per "
                            f"edge of [network] edges), got {len(self.learning.rates)}")

    @property
    def shapes(self) -> tuple:
        """Each layer's shape: ``[network] shapes``, else flat ``(n,)``."""
        return self.network.shapes or tuple((n,) for n in self.network.layers)

    @property
    def edges(self) -> tuple:
        """The graph's edges: ``[network] edges``, else the dense chain l → l+1."""
        return self.network.edges or tuple(EdgeSpec(k, k + 1)
                                           for k in range(len(self.network.layers) - 1))

    # -- derived quantities -------------------------------------------------
    @property
    def layers(self) -> tuple:
        return self.network.layers

    @property
    def steps_per_sample(self) -> int:
        """T1 + T2 (free, then nudged), or T1 + 2 T2 with symmetric nudging (free, −β, +β)."""
        return self.phases.free_steps + self.nudged_phases * self.phases.nudge_steps

    @property
    def nudged_phases(self) -> int:
        """1 (one-sided nudging) or 2 (symmetric: −β then +β)."""
        return 2 if self.phases.nudging == "symmetric" else 1

    def as_dict(self) -> dict:
        return {name: dataclasses.asdict(getattr(self, name)) for name in _SECTIONS}

    def to_toml(self) -> str:
        """The complete definition, every field explicit, as TOML that :func:`spec_from_toml`
        reads back to an equal spec with ``stored=True`` (what run files store: the network
        as run, every table, also those its engine does not read)."""
        def value(v):
            if isinstance(v, (list, tuple)):
                return "[" + ", ".join(value(x) for x in v) + "]"
            if isinstance(v, dict):
                if v.get("kind") == "dense":          # an edge: no conv field on a dense one
                    v = {k: x for k, x in v.items() if k not in CONV_FIELDS}
                return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"
            if isinstance(v, str):
                return json.dumps(v)
            if isinstance(v, bool):
                return "true" if v else "false"
            return repr(v)

        lines = [f"# network {self.name!r}, as run"]
        for section, fields in self.as_dict().items():
            lines.append(f"\n[{section}]")
            lines.extend(f"{key} = {value(v)}" for key, v in fields.items())
        return "\n".join(lines) + "\n"

    def structure_key(self) -> str:
        """A hash of everything that changes the compiled simulation's code or shapes.

        Learning rates, seeds, epoch counts, the delta code's thresholds and the
        description are passed at run time (the thresholds in the per-step signal
        ``theta``) or do not reach the simulation and are left out, so that runs differing
        only in those reuse one compiled build.
        """
        d = self.as_dict()
        d.pop("training")
        d["network"].pop("description")
        for name in ("delta_theta", "delta_theta_nudged", "delta_flush"):
            d["spiking"].pop(name)
        d["learning"] = {k: d["learning"][k] for k in ("rule", "partner", "window_rate")}
        sy = d.pop("synapses")    # what changes the code, not the run-time values; none
        if sy != dataclasses.asdict(SynapsesSection()):   # for the ideal synapse's builds
            d["synapses"] = {"coupling": sy["coupling"], "bits": sy["weight_bits"] > 0,
                             "rounding": sy["rounding"], "decay": sy["decay"] > 0,
                             "update_noise": sy["update_noise"] > 0,
                             "device_noise": sy["device_noise"] > 0}
        blob = json.dumps(d, sort_keys=True).encode()
        return hashlib.sha1(blob).hexdigest()[:12]

    def replace(self, **sections: dict) -> "NetworkSpec":
        """A copy with some fields changed, e.g. ``spec.replace(training={'epochs': 3})``."""
        changed = {}
        for section, values in sections.items():
            if section not in _SECTIONS:
                raise SpecError(f"unknown section [{section}]; valid: {', '.join(_SECTIONS)}")
            current = dataclasses.asdict(getattr(self, section))
            current.update(values)
            changed[section] = _build_section(self.name, section, current)
        return dataclasses.replace(self, **changed)


def _check_value(where: str, f: dataclasses.Field, value: Any) -> Any:
    meta, default = f.metadata, f.default
    if meta.get("parse"):
        return meta["parse"](where, value)
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)):
            raise SpecError(f"{where}: expected a list, got {shown(value)}")
        kind = type(default[0]) if default else float
        return tuple(_check_scalar(f"{where}[{k}]", kind, meta, v) for k, v in enumerate(value))
    return _check_scalar(where, type(default), meta, value)


def _check_scalar(where: str, kind: type, meta: dict, value: Any) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        expected = {float: "a number", int: "an integer", str: "a string",
                    bool: "a boolean (true or false)"}[kind]
        raise SpecError(f"{where}: expected {expected}, got {shown(value)}")
    if kind is float and not math.isfinite(value):
        raise SpecError(f"{where}: expected a finite number, got {value!r}")
    if meta.get("choices") and value not in meta["choices"]:
        raise SpecError(f"{where}: {value!r} is not one of {', '.join(meta['choices'])}")
    if meta.get("lo") is not None and value < meta["lo"]:
        raise SpecError(f"{where}: {value!r} is below the minimum {meta['lo']}")
    if meta.get("hi") is not None and value > meta["hi"]:
        raise SpecError(f"{where}: {value!r} is above the maximum {meta['hi']}")
    return value


def _build_section(name: str, section: str, values: dict):
    cls = _SECTIONS[section]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(fields)
    if unknown:
        raise SpecError(f"{name}: unknown field(s) {', '.join(sorted(unknown))} in [{section}]; "
                        f"valid: {', '.join(fields)}")
    checked = {k: _check_value(f"{name}: [{section}] {k}", fields[k], v) for k, v in values.items()}
    return cls(**checked)


def spec_from_toml(text: str, name: str = "<string>", stored: bool = False) -> NetworkSpec:
    """Parse and validate a network definition from TOML text. ``stored``: the definition a
    run file holds (written by :meth:`NetworkSpec.to_toml`; eqspike before 0.3 wrote every
    edge's conv fields, at their defaults on a dense edge, which a network file may not)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{name}: not valid TOML ({exc})") from None
    unknown = set(raw) - set(_SECTIONS)
    if unknown:
        raise SpecError(f"{name}: unknown section(s) {', '.join(sorted(unknown))}; "
                        f"valid: {', '.join(_SECTIONS)}")
    sections = {}
    for section, value in raw.items():
        if not isinstance(value, dict):
            raise SpecError(f"{name}: [{section}] must be a table")
    if not stored:
        _refuse_conv_fields_on_dense_edges(name, raw)
        _refuse_fields_the_engine_ignores(name, raw)
    for section, value in _graph_moved(raw, name, stored).items():
        sections[section] = _build_section(name, section, value)
    return NetworkSpec(name=name, **sections)


#: Fields that moved when the two engines came to share one graph (eqspike 0.1's rate
#: networks and run files wrote them in [reference]): where each is read now.
MOVED_FIELDS = {"shapes": ("network", "shapes"), "edges": ("network", "edges"),
                "rates": ("learning", "rates")}


#: Per engine (``[network] path``), the fields of a network file it does not read: a file
#: that sets one would be silently ignored, so it is refused (a run file, which writes
#: every field, is not checked). ``None``: the whole table.
IGNORED_FIELDS = {
    "rate": {"spiking": None,
             "learning": ("rule", "partner", "window_rate", "bias_rates", "decay_every",
                          "weight_bound"),
             "phases": ("nudging", "nudge_anneal"), "training": ("chunk_samples",)},
    "spiking": {"reference": None},
}
#: Where the rate reference takes what a field it ignores sets on the spiking path.
RATE_INSTEAD = {"bias_rates": "each bias takes the rate of the first edge into its layer, "
                              "the read-out [reference] readout_rate",
                "nudging": "the estimator is [reference] estimator",
                "weight_bound": "the rate reference bounds no weight",
                "chunk_samples": "it trains in mini-batches of [reference] batch_size"}


def _refuse_fields_the_engine_ignores(name: str, raw: dict) -> None:
    path = raw.get("network", {}).get("path", "spiking")
    for section, fields in IGNORED_FIELDS.get(path, {}).items():
        table = {k: v for k, v in raw.get(section, {}).items()
                 if not (section == "reference" and k in MOVED_FIELDS)}   # read elsewhere
        given = sorted(table) if fields is None else [f for f in fields if f in table]
        if given:
            engine = "the rate reference" if path == "rate" else "the spiking engine"
            instead = RATE_INSTEAD.get(given[0]) if path == "rate" else None
            raise SpecError(f"{name}: [{section}] {given[0]} is not read by {engine}, which "
                            f"this network runs on ([network] path = {path!r})"
                            + (f"; {instead}" if instead else "") + "; remove it")


def _refuse_conv_fields_on_dense_edges(name: str, raw: dict) -> None:
    """A dense edge (no ``kind = "conv"``) given a conv field: the field would be ignored."""
    for section in ("network", "reference"):
        edges = raw.get(section, {}).get("edges")
        for k, edge in enumerate(edges if isinstance(edges, list) else []):
            if isinstance(edge, dict) and edge.get("kind", "dense") != "conv":
                given = [f for f in CONV_FIELDS if f in edge]
                if given:
                    raise SpecError(f"{name}: [{section}] edges[{k}]: {', '.join(given)} "
                                    "belong(s) to a conv edge; this one is dense (add kind = "
                                    "\"conv\")")


def _graph_moved(raw: dict, name: str = "<string>", stored: bool = False) -> dict:
    """``raw`` with eqspike 0.1's ``[reference] shapes``, ``edges`` and ``rates`` read as
    ``[network] shapes``, ``[network] edges`` and ``[learning] rates`` (one per edge), so
    that older network and run files keep working; empty ones (a run file writes every
    field) are dropped. A network file giving a field in both places, with two values, is
    refused (neither may silently win); a run file of eqspike 0.1 wrote both, and there
    the [reference] one is what that rate run used."""
    reference = dict(raw.get("reference", {}))
    if not any(key in reference for key in MOVED_FIELDS):
        return raw
    out = {section: dict(values) for section, values in raw.items()}
    for key, (section, field_name) in MOVED_FIELDS.items():
        value = reference.pop(key, None)
        if value not in (None, [], ()):
            there = out.get(section, {}).get(field_name)
            if not stored and there not in (None, [], ()) and there != value:
                raise SpecError(f"{name}: [reference] {key} (eqspike 0.1's spelling) and "
                                f"[{section}] {field_name} give two values; keep [{section}] "
                                f"{field_name}")
            out.setdefault(section, {})[field_name] = value
    out["reference"] = reference
    return out


def available_networks() -> list[str]:
    """Names of the network definitions in ``networks/``."""
    return sorted(p.stem for p in NETWORKS_DIR.glob("*.toml"))


def load_network(name_or_path: str | Path) -> NetworkSpec:
    """Load a network by name (``networks/NAME.toml``) or by path to a ``.toml`` file."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = NETWORKS_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            raise SpecError(f"unknown network {str(name_or_path)!r}; valid: "
                            f"{', '.join(available_networks())} (or a path to a .toml file)")
    elif not path.is_file():
        raise SpecError(f"network file {path} does not exist")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read network file {path}: {exc}") from None
    return spec_from_toml(text, name=path.stem)
