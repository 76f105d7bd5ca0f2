"""The couplings of a layered Hopfield network: linear operators between two layers' states.

An edge e joins a presynaptic layer (lower) to a postsynaptic one (upper, or any later
layer: a skip coupling) and contributes ⟨s_post, A_e(W_e) s_pre⟩ to the primitive Φ. Three
things are asked of it, all batched over the first axis:

* ``forward(W, s_pre)``  = A(W) s_pre         (its drive to the postsynaptic layer),
* ``backward(W, s_post)`` = A(W)ᵀ s_post       (its drive to the presynaptic layer),
* ``grad(s_pre, s_post)`` = ∂/∂W Σ_b ⟨s_post, A(W) s_pre⟩   (a tensor shaped like W).

Because Φ is bilinear in each edge, these three define the dynamics, EP's update (the
difference of ``grad`` between two states) and BPTT's reverse pass (``forward`` and
``backward`` are each other's transposes). :class:`DenseEdge`: A(W) s = s W with W
(n_pre, n_post). :class:`ConvEdge`: a 2-D convolution (cross-correlation, stride s, zero
padding) followed by an optional p×p average pooling, with W (C_out, C_in, k, k). Average
pooling keeps Φ bilinear, so the edge stays an exact linear operator (max pooling would
not), and it moves onto the input: pooling the convolution z[i, j] = Σ_{u,v} W[u, v]
x[s i + u, s j + v] gives::

    y[I, J] = (1/p²) Σ_{a,b<p} z[p I + a, p J + b]
            = (1/p²) Σ_{u,v} W[u, v] box[s p I + u, s p J + v],
    box[m, n] = Σ_{a,b<p} x[m + s a, n + s b],

a k×k convolution with stride S = s·p of the input's box sum: p² fewer output positions than
convolving then pooling, and a k×k (not (k + s(p − 1))²) window per position. Forward and
``grad`` are then one BLAS product each over the windows of a strided view of the box sum
(``grad`` needs no adjoint: W is the kernel on the box sum). The transpose is a convolution
too: cut the padded input into S×S blocks; block (i, j) receives Σ_{a,b<q} of the folded
kernel's block (a, b) times y[i − a, j − b], where the folded kernel W_fold (size
k + s(p − 1), padded to q·S) is W with the pooling folded in. So no product scatters.
:mod:`eqspike.reference.edges_im2col` keeps the first implementation (an im2col index and a
sparse col2im, pooling after the convolution), the oracle this one equals to 1e-12 and is
measured against (``benchmarks/bench_conv.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..parameters import fan_in, weight_shape
from ..spec import SpecError, conv_output

__all__ = ["DenseEdge", "ConvEdge", "make_edge"]


@dataclass
class DenseEdge:
    """A(W) s = s W: every presynaptic neuron to every postsynaptic one."""

    pre_shape: tuple
    post_shape: tuple

    @property
    def weight_shape(self) -> tuple:
        return weight_shape("dense", self.pre_shape, self.post_shape)

    @property
    def fan_in(self) -> int:
        return fan_in("dense", self.pre_shape)

    def forward(self, w, s_pre):
        return s_pre @ w

    def backward(self, w, s_post):
        return s_post @ w.T

    def grad(self, s_pre, s_post):
        return s_pre.T @ s_post


@dataclass
class ConvEdge:
    """Convolution C_in → C_out (kernel k, stride s, zero padding), then p×p average pooling.

    States are flat (B, C·H·W) arrays in channel-major order; the shapes say how to read
    them. The postsynaptic shape must be (C_out, H_out / p, W_out / p).

    Internally the products work channels-last, (B, H, W, C), so that each window's copy
    moves runs of k·C contiguous values, and they reuse their scratch arrays between calls
    (one set per batch size and dtype): on this project's machines a fresh megabyte-sized
    array cost more in page faults than the product that fills it.
    """

    pre_shape: tuple
    post_shape: tuple
    kernel: int = 3
    stride: int = 1
    padding: int = 0
    pool: int = 1
    _scratch: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        c_in, h, w = self.pre_shape
        k, s, p = self.kernel, self.stride, self.padding
        self.conv_h, self.conv_w = conv_output(self.pre_shape, self.post_shape, k, s, p,
                                               self.pool)
        self.out_h, self.out_w = self.conv_h // self.pool, self.conv_w // self.pool
        self.padded_shape = (h + 2 * p, w + 2 * p)
        shrink = s * (self.pool - 1)                 # the box sum's loss of rows and columns
        self.box_shape = (h + 2 * p - shrink, w + 2 * p - shrink)
        self.step = s * self.pool                    # the convolution's stride on the box sum
        # the transpose (see backward): the padded input in S×S blocks, S = step, each
        # block a q×q convolution of the postsynaptic state, q = ⌈(k + s(p − 1)) / S⌉
        self.blocks = -(-(k + shrink) // self.step)
        self.block_rows = max(-(-(h + 2 * p) // self.step), self.out_h + self.blocks - 1)
        self.block_cols = max(-(-(w + 2 * p) // self.step), self.out_w + self.blocks - 1)

    @property
    def weight_shape(self) -> tuple:
        return weight_shape("conv", self.pre_shape, self.post_shape, self.kernel)

    @property
    def fan_in(self) -> int:
        return fan_in("conv", self.pre_shape, self.kernel)

    def _buffer(self, name: str, shape: tuple, like, zeros: bool = False):
        """A scratch array of ``like``'s dtype (and array type) kept on the edge; ``zeros``:
        zeroed once when made (a padding border, never written afterwards)."""
        key = (name, shape, like.dtype, type(like))
        buf = self._scratch.get(key)
        if buf is None:
            if len(self._scratch) > 64:          # many batch sizes seen: start again
                self._scratch.clear()
            make = np.zeros if zeros else np.empty
            buf = self._scratch[key] = make(shape, like.dtype, like=like)
        return buf

    def _windows(self, x, size: int, step: int, out_h: int, out_w: int, name: str):
        """(B·out_h·out_w, size·size·C): the size×size windows, ``step`` apart, of a
        channels-last (B, H, W, C) array, copied into a scratch array."""
        view = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(1, 2))
        view = view[:, ::step, ::step][:, :out_h, :out_w].transpose(0, 1, 2, 4, 5, 3)
        cols = self._buffer(name, (len(x) * out_h * out_w, size * size * x.shape[3]), x)
        np.copyto(cols.reshape(view.shape), view)
        return cols

    def _box_sum(self, s_pre):
        """The zero-padded input, channels-last, summed over the p×p convolution positions
        each pooled output averages: box[m, n] = Σ_{a,b<p} x[m + s a, n + s b]."""
        c, h, w = self.pre_shape
        pad, p, s = self.padding, self.pool, self.stride
        batch = len(s_pre)
        x = self._buffer("padded", (batch, *self.padded_shape, c), s_pre, zeros=True)
        x[:, pad:pad + h, pad:pad + w] = s_pre.reshape(batch, c, h, w).transpose(0, 2, 3, 1)
        if p == 1:
            return x
        hb, wb = self.box_shape
        rows = self._buffer("box_rows", (batch, hb, x.shape[2], c), s_pre)
        np.add(x[:, :hb], x[:, s:s + hb], out=rows)
        for a in range(2, p):
            rows += x[:, s * a:s * a + hb]
        box = self._buffer("box", (batch, hb, wb, c), s_pre)
        np.add(rows[:, :, :wb], rows[:, :, s:s + wb], out=box)
        for b in range(2, p):
            box += rows[:, :, s * b:s * b + wb]
        return box

    def _box_windows(self, s_pre):
        """(B·H_out·W_out, k·k·C_in): each output's k×k window of the box sum."""
        return self._windows(self._box_sum(s_pre), self.kernel, self.step, self.out_h,
                             self.out_w, "box_windows")

    def _weights(self, w):
        """(C_out, k·k·C_in) in the channels-last window order, divided by p²."""
        p = self.pool
        return w.transpose(0, 2, 3, 1).reshape(len(w), -1) * (1.0 / (p * p))

    def _block_weights(self, w):
        """The transpose's kernel: (q·q·C_out, S·S·C_in), row (a', b', o), column (u, v, c)
        holding W_fold[o, c, S(q−1−a') + u, S(q−1−b') + v], where W_fold, the kernel on the
        padded input with the pooling folded in, is (1/p²) Σ_{a,b<p} W[· − s a, · − s b]
        (zero past its size k + s(p − 1))."""
        p, s, k, q, step = self.pool, self.stride, self.kernel, self.blocks, self.step
        c_out, c_in = w.shape[:2]
        fold = np.zeros((c_out, q * step, q * step, c_in), dtype=w.dtype)
        wl = w.transpose(0, 2, 3, 1)
        for a in range(p):
            for b in range(p):
                fold[:, s * a:s * a + k, s * b:s * b + k] += wl
        fold = fold.reshape(c_out, q, step, q, step, c_in)[:, ::-1, :, ::-1]
        return fold.transpose(1, 3, 0, 2, 4, 5).reshape(q * q * c_out, -1) * (1.0 / (p * p))

    def _positions(self, s_post):
        """Flat (B, C_out·H_out·W_out) → (B·H_out·W_out, C_out)."""
        c = self.post_shape[0]
        return s_post.reshape(len(s_post), c, -1).transpose(0, 2, 1).reshape(-1, c)

    def forward(self, w, s_pre):
        batch = len(s_pre)
        y = self._box_windows(s_pre) @ self._weights(w).T               # (B·P, C_out)
        return np.ascontiguousarray(y.reshape(batch, -1, len(w)).transpose(0, 2, 1)) \
            .reshape(batch, -1)

    def backward(self, w, s_post):
        """The transpose as a convolution: cut the padded input into S×S blocks; block
        (i, j) receives Σ_{a,b<q} W_fold-block (a, b) · y[i − a, j − b], a q×q convolution
        of the postsynaptic state (zero-padded by q − 1) with S·S·C_in output channels."""
        c, h, wd = self.pre_shape
        c_out, ho, wo = self.post_shape
        pad, q, step, rows, cols = self.padding, self.blocks, self.step, self.block_rows, \
            self.block_cols
        batch = len(s_post)
        y = self._buffer("post_padded", (batch, rows + q - 1, cols + q - 1, c_out), s_post,
                         zeros=True)
        y[:, q - 1:q - 1 + ho, q - 1:q - 1 + wo] = \
            s_post.reshape(batch, c_out, ho, wo).transpose(0, 2, 3, 1)
        g = self._windows(y, q, 1, rows, cols, "post_windows") @ self._block_weights(w)
        g = g.reshape(batch, rows, cols, step, step, c).transpose(0, 5, 1, 3, 2, 4)
        full = self._buffer("input_grad", (batch, c, rows, step, cols, step), g)
        np.copyto(full, g)
        full = full.reshape(batch, c, rows * step, cols * step)
        return np.ascontiguousarray(full[:, :, pad:pad + h, pad:pad + wd]).reshape(batch, -1)

    def grad(self, s_pre, s_post):
        k, p = self.kernel, self.pool
        g = self._positions(s_post).T @ self._box_windows(s_pre)        # (C_out, k·k·C_in)
        g = g.reshape(self.post_shape[0], k, k, self.pre_shape[0]).transpose(0, 3, 1, 2)
        return np.ascontiguousarray(g) * (1.0 / (p * p))


def make_edge(kind: str, pre_shape, post_shape, **options):
    """The edge of ``kind`` ('dense' or 'conv') between layers of these shapes."""
    if kind == "dense":
        return DenseEdge(tuple(pre_shape), tuple(post_shape))
    if kind == "conv":
        if len(pre_shape) != 3 or len(post_shape) != 3:
            raise SpecError(f"a conv edge joins (C, H, W) layers, got {tuple(pre_shape)} → "
                             f"{tuple(post_shape)}")
        return ConvEdge(tuple(pre_shape), tuple(post_shape), **options)
    raise SpecError(f"unknown edge kind {kind!r}; valid: dense, conv")
