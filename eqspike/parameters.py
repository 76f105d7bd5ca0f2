"""The initial parameters of a network graph: one initialiser for both engines.

Every coupling of the graph (``[network] edges``) gets one weight array, named
``W_pre_post``: (n_pre, n_post) for a dense edge, ``W[i, j]`` coupling neuron i of layer
``pre`` to neuron j of layer ``post``; (C_out, C_in, k, k) for a conv edge (one weight per
kernel entry). Every non-input layer l gets a bias ``b_l``. The rate reference's
cross-entropy read-out (its last edge, into the output) is ``W_out`` and ``b_out``.

Each is drawn as U(−g/√fan_in, +g/√fan_in) (PyTorch's default for ``nn.Linear`` and
``nn.Conv2d``, scaled by ``[learning] init_gain`` = g), a bias with the fan-in of the first
edge into its layer, from one generator seeded with the run's seed, layer by layer: the
edges into layer 1 (in the order of ``[network] edges``), then b_1, the edges into layer 2,
b_2, and so on. So one seed gives the same initial weights on both engines, in float64
(the rate reference then rounds them to its ``[reference] precision``).

With one-way couplings (``[synapses] coupling = "asymmetric"``, :mod:`eqspike.synapses`)
every edge between two non-input layers also has feedback weights ``B_pre_post`` of W's
shape: drawn like W from a generator of their own (``[seed, 1]``, edge by edge, so that W
and the biases are those of the symmetric network), or equal to W (``feedback_init =
"transpose"``). With weights of few bits (``weight_bits``) every weight starts on its
levels (:func:`eqspike.synapses.quantize`, deterministic rounding).
"""

from __future__ import annotations

import numpy as np

from .spec import EdgeSpec, NetworkSpec

__all__ = ["edge_name", "feedback_name", "weight_shape", "fan_in", "edge_weight_shape",
           "edge_fan_in", "loss_of", "has_readout", "init_parameters", "as_lists", "feedback_list"]


def edge_name(edge: EdgeSpec) -> str:
    """``W_pre_post``."""
    return f"W_{edge.pre}_{edge.post}"


def feedback_name(edge: EdgeSpec) -> str:
    """``B_pre_post``: an edge's own feedback weights (one-way couplings)."""
    return f"B_{edge.pre}_{edge.post}"


def weight_shape(kind: str, pre_shape, post_shape, kernel: int = 1) -> tuple:
    """A coupling's weight array: (n_pre, n_post) dense; (C_out, C_in, k, k) conv."""
    if kind == "conv":
        return (post_shape[0], pre_shape[0], kernel, kernel)
    return (int(np.prod(pre_shape)), int(np.prod(post_shape)))


def fan_in(kind: str, pre_shape, kernel: int = 1) -> int:
    """The inputs one postsynaptic neuron sums: n_pre dense, C_in k² conv."""
    if kind == "conv":
        return pre_shape[0] * kernel ** 2
    return int(np.prod(pre_shape))


def edge_weight_shape(spec: NetworkSpec, edge: EdgeSpec) -> tuple:
    """:func:`weight_shape` of an edge of the graph."""
    return weight_shape(edge.kind, spec.shapes[edge.pre], spec.shapes[edge.post], edge.kernel)


def edge_fan_in(spec: NetworkSpec, edge: EdgeSpec) -> int:
    """:func:`fan_in` of an edge of the graph."""
    return fan_in(edge.kind, spec.shapes[edge.pre], edge.kernel)


def loss_of(spec: NetworkSpec) -> str:
    """The loss a network is trained on: ``[reference] loss`` on the rate path, ``[spiking]
    loss`` on the spiking one (``mse`` or ``cross_entropy``)."""
    return spec.reference.loss if spec.network.path == "rate" else spec.spiking.loss


def has_readout(spec: NetworkSpec) -> bool:
    """Whether the last layer is the rate reference's cross-entropy read-out, held as
    ``W_out`` and ``b_out`` (the spiking read-out keeps its edge's name and the layer's
    bias; the values are the same draws)."""
    return spec.network.path == "rate" and loss_of(spec) == "cross_entropy"


def init_parameters(spec: NetworkSpec, seed: int) -> dict:
    """``{name: array}`` of every parameter (see the module docstring), in float64."""
    rng = np.random.default_rng(seed)
    gain = spec.learning.init_gain
    last = len(spec.layers) - 1
    params = {}
    for layer in range(1, last + 1):
        incoming = [e for e in spec.edges if e.post == layer]
        if layer == last and has_readout(spec):
            bound = gain / np.sqrt(spec.layers[last - 1])
            params["W_out"] = rng.uniform(-bound, bound,
                                          size=(spec.layers[last - 1], spec.layers[last]))
            params["b_out"] = rng.uniform(-bound, bound, size=spec.layers[last])
            continue
        for edge in incoming:
            bound = gain / np.sqrt(edge_fan_in(spec, edge))
            params[edge_name(edge)] = rng.uniform(-bound, bound,
                                                  size=edge_weight_shape(spec, edge))
        bound = gain / np.sqrt(edge_fan_in(spec, incoming[0]))
        params[f"b_{layer}"] = rng.uniform(-bound, bound, size=spec.layers[layer])
    from .synapses import feedback_edges, parameter_ranges, quantize

    sy = spec.synapses
    other = np.random.default_rng([seed, 1])
    for k in feedback_edges(spec):
        edge = spec.edges[k]
        if sy.feedback_init == "transpose":
            params[feedback_name(edge)] = params[edge_name(edge)].copy()
        else:
            bound = gain / np.sqrt(edge_fan_in(spec, edge))
            params[feedback_name(edge)] = other.uniform(-bound, bound,
                                                        size=edge_weight_shape(spec, edge))
    if sy.weight_bits:
        ranges = parameter_ranges(spec)
        for name in params:
            if not name.startswith("b_"):
                params[name] = quantize(params[name], sy.weight_bits, ranges[name])
    return params


def feedback_list(spec: NetworkSpec, params: dict) -> list | None:
    """Per edge in the order of ``[network] edges``, its feedback weights ``B_pre_post`` or
    None; None when no edge has any (symmetric couplings)."""
    out = [params.get(feedback_name(e)) for e in spec.edges]
    return out if any(b is not None for b in out) else None


def as_lists(spec: NetworkSpec, params: dict) -> tuple[list, list]:
    """(weights per edge in the order of ``[network] edges``, biases b_1 ... b_L): the
    form the spiking engine takes."""
    weights = [params[edge_name(e)] for e in spec.edges]
    biases = [params[f"b_{layer}"] for layer in range(1, len(spec.layers))]
    return weights, biases
