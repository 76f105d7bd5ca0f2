"""The taps of a convolutional edge: which presynaptic neuron reaches which postsynaptic one
through which kernel entry, for an engine that couples neurons one by one (the spiking
engine's ``Synapses``).

A conv edge (``[network] edges``, ``kind = "conv"``) is the rate reference's
:class:`~eqspike.reference.edges.ConvEdge`: a cross-correlation of the presynaptic layer
(C_in, H, W) with the kernel W (C_out, C_in, k, k), stride s, zero padding P, then p×p
average pooling, flat states in channel-major order. Its output at (o, I, J) is

    y[o, I, J] = (1/p²) Σ_{a,b<p} Σ_{c,u,v} W[o, c, u, v] x[c, s(pI + a) + u − P, s(pJ + b) + v − P]

so every term of the sum is one *tap*: pre neuron (c, m, n), post neuron (o, I, J), kernel
entry (o, c, u, v) and the factor 1/p² (padding taps, outside the input, do not exist). A
pair of neurons may share several taps (pooled windows overlap when s < k). The edge's
drive upward is Σ_taps (1/p²) W[entry] x[pre], its transpose Σ_taps (1/p²) W[entry] y[post],
and the gradient of ⟨y, A(W) x⟩ with respect to one kernel entry the sum over its taps of
(1/p²) x[pre] y[post]: the EP update of a shared kernel entry is the sum over its taps of
the per-connection updates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ConvTaps", "conv_taps", "edge_taps", "reach_rows", "event_rows", "event_row_labels",
           "row_sources"]


@dataclass(frozen=True)
class ConvTaps:
    """Every tap of a conv edge, as int arrays of one length: ``pre`` and ``post`` (flat
    neuron indices, channel-major) and ``entry`` (the flat index of the kernel entry in
    W (C_out, C_in, k, k), C order); ``scale`` = 1/p², the same for every tap."""

    pre: np.ndarray
    post: np.ndarray
    entry: np.ndarray
    scale: float
    kernel_size: int          # C_out · C_in · k²: the number of shared weights

    def __len__(self) -> int:
        return len(self.pre)

    def fan_out(self, n_pre: int) -> np.ndarray:
        """Taps leaving each presynaptic neuron (the events one of its spikes sends)."""
        return np.bincount(self.pre, minlength=n_pre)

    def fan_in(self, n_post: int) -> np.ndarray:
        """Taps reaching each postsynaptic neuron."""
        return np.bincount(self.post, minlength=n_post)


def conv_taps(pre_shape, post_shape, kernel: int, stride: int = 1, padding: int = 0,
              pool: int = 1) -> ConvTaps:
    """The taps of a conv edge from ``pre_shape`` (C_in, H, W) to ``post_shape``
    (C_out, H_out / p, W_out / p) (see the module docstring), ordered by post neuron, pool
    offset, input channel, kernel row and column."""
    c_in, h, w = (int(n) for n in pre_shape)
    c_out, out_h, out_w = (int(n) for n in post_shape)
    k, s, pad, p = int(kernel), int(stride), int(padding), int(pool)
    o, i, j, a, b, c, u, v = np.meshgrid(np.arange(c_out), np.arange(out_h), np.arange(out_w),
                                         np.arange(p), np.arange(p), np.arange(c_in),
                                         np.arange(k), np.arange(k), indexing="ij", sparse=True)
    m = s * (p * i + a) + u - pad                     # the input row and column of each tap
    n = s * (p * j + b) + v - pad
    full = np.broadcast_shapes(o.shape, m.shape, n.shape, c.shape)
    m, n = np.broadcast_to(m, full), np.broadcast_to(n, full)
    inside = (m >= 0) & (m < h) & (n >= 0) & (n < w)
    pre = (np.broadcast_to(c, full) * h + m) * w + n
    post = np.broadcast_to((o * out_h + i) * out_w + j, full)
    entry = np.broadcast_to(((o * c_in + c) * k + u) * k + v, full)
    return ConvTaps(pre[inside].astype(np.int64), post[inside].astype(np.int64),
                    entry[inside].astype(np.int64), 1.0 / (p * p), c_out * c_in * k * k)


def edge_taps(spec, edge) -> ConvTaps:
    """:func:`conv_taps` of a conv edge of the graph ``spec``."""
    return conv_taps(spec.shapes[edge.pre], spec.shapes[edge.post], edge.kernel, edge.stride,
                     edge.padding, edge.pool)


def reach_rows(spec) -> list:
    """The event counters' rows after the L layers' spikes: ``(k, direction)`` for every conv
    edge k of the graph, in edge order, direction ``"up"`` then ``"down"``. Row (k, up)
    counts the events the pre layer's spikes send through edge k, Σ_i n_i · fan_out_i, and
    (k, down) the post layer's, Σ_j n_j · fan_in_j (per part of the sample). A dense edge
    needs no row: its fan-outs are the other layer's size, so its events follow from the
    layers' spike counts; a conv neuron's fan-out varies at the borders. None on the rate
    path, which counts no events."""
    if spec.network.path != "spiking":
        return []
    return [(k, direction) for k, edge in enumerate(spec.edges) if edge.kind == "conv"
            for direction in ("up", "down")]


def event_rows(spec) -> int:
    """Rows of the event counts a spiking run records: the L layers, then :func:`reach_rows`."""
    return len(spec.layers) + len(reach_rows(spec))


def event_row_labels(spec) -> list:
    """A label per row of the event counts: ``layer 0`` ... ``layer L-1``, then ``edge p-q
    up`` and ``edge p-q down`` per conv edge."""
    edges = spec.edges
    return ([f"layer {n}" for n in range(len(spec.layers))]
            + [f"edge {edges[k].pre}-{edges[k].post} {d}" for k, d in reach_rows(spec)])


def row_sources(spec) -> np.ndarray:
    """The layer whose spikes each row of the event counts counts (a reach row: the edge's
    pre layer upward, its post layer downward)."""
    edges = spec.edges
    return np.array(list(range(len(spec.layers)))
                    + [edges[k].pre if d == "up" else edges[k].post for k, d in reach_rows(spec)])
