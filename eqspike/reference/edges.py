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
(n_pre, n_post). :class:`ConvEdge`: a 2-D convolution (cross-correlation, stride, zero
padding) followed by an optional average pooling, with W (C_out, C_in, k, k). Average
pooling keeps Φ bilinear, so the edge stays an exact linear operator (max pooling would
not), and it folds into the convolution: a k×k convolution with stride s followed by p×p
average pooling is one convolution with stride s·p and the kernel of size k + s(p − 1)

    W_eff[u, v] = (1/p²) Σ_{a, b < p} W[u − s a, v − s b],

with p² fewer output positions to compute. Each product is then one BLAS product over the
windows of a strided view of the padded input (``sliding_window_view``), the transpose adds
the windows back with K² strided slices, and ``grad`` maps the effective kernel's gradient
back through the adjoint of the fold. :mod:`eqspike.reference.edges_im2col` keeps the first
implementation (an im2col index and a sparse col2im), the oracle this one equals to 1e-12
and is measured against (``benchmarks/bench_conv.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DenseEdge", "ConvEdge", "make_edge"]


@dataclass
class DenseEdge:
    """A(W) s = s W: every presynaptic neuron to every postsynaptic one."""

    pre_shape: tuple
    post_shape: tuple

    @property
    def weight_shape(self) -> tuple:
        return (int(np.prod(self.pre_shape)), int(np.prod(self.post_shape)))

    @property
    def fan_in(self) -> int:
        return self.weight_shape[0]

    def forward(self, w, s_pre):
        return s_pre @ w

    def backward(self, w, s_post):
        return s_post @ w.T

    def grad(self, s_pre, s_post):
        return s_pre.T @ s_post


@dataclass
class ConvEdge:
    """Convolution C_in → C_out (kernel k, stride, zero padding), then average pooling.

    States are flat (B, C·H·W) arrays in channel-major order; the shapes say how to read
    them. The postsynaptic shape must be (C_out, H_out / pool, W_out / pool).
    """

    pre_shape: tuple
    post_shape: tuple
    kernel: int = 3
    stride: int = 1
    padding: int = 0
    pool: int = 1

    def __post_init__(self):
        c_in, h, w = self.pre_shape
        k, s, p = self.kernel, self.stride, self.padding
        self.conv_h = (h + 2 * p - k) // s + 1
        self.conv_w = (w + 2 * p - k) // s + 1
        if self.conv_h < 1 or self.conv_w < 1:
            raise ValueError(f"a {k}x{k} kernel with stride {s} and padding {p} does not fit "
                             f"an input of shape {self.pre_shape}")
        if self.conv_h % self.pool or self.conv_w % self.pool:
            raise ValueError(f"pooling {self.pool} does not divide the convolution's output "
                             f"{self.conv_h}x{self.conv_w}")
        expected = (self.post_shape[0], self.conv_h // self.pool, self.conv_w // self.pool)
        if tuple(self.post_shape) != expected:
            raise ValueError(f"a convolution from {tuple(self.pre_shape)} (kernel {k}, stride "
                             f"{s}, padding {p}, pool {self.pool}) gives shape {expected}, "
                             f"but the layer has shape {tuple(self.post_shape)}")
        self.out_h, self.out_w = self.conv_h // self.pool, self.conv_w // self.pool
        self.eff_kernel = k + s * (self.pool - 1)          # the folded kernel's size
        self.eff_stride = s * self.pool

    @property
    def weight_shape(self) -> tuple:
        return (self.post_shape[0], self.pre_shape[0], self.kernel, self.kernel)

    @property
    def fan_in(self) -> int:
        return self.pre_shape[0] * self.kernel ** 2

    def _fold(self, w):
        """W (C_out, C_in, k, k) → W_eff (C_out, C_in, K, K): the kernel with the pooling."""
        p, s, k = self.pool, self.stride, self.kernel
        if p == 1:
            return w
        out = np.zeros(w.shape[:2] + (self.eff_kernel, self.eff_kernel), dtype=w.dtype)
        for a in range(p):
            for b in range(p):
                out[:, :, s * a:s * a + k, s * b:s * b + k] += w
        return out / (p * p)

    def _unfold(self, g_eff):
        """The adjoint of :meth:`_fold`: ∂/∂W of ⟨g_eff, W_eff(W)⟩."""
        p, s, k = self.pool, self.stride, self.kernel
        if p == 1:
            return g_eff
        out = np.zeros(g_eff.shape[:2] + (k, k), dtype=g_eff.dtype)
        for a in range(p):
            for b in range(p):
                out += g_eff[:, :, s * a:s * a + k, s * b:s * b + k]
        return out / (p * p)

    def _windows(self, s_pre):
        """(B·H_out·W_out, C_in·K·K): every output position's input window, copied once from
        a strided view of the zero-padded input."""
        c, h, w = self.pre_shape
        pad, big, step = self.padding, self.eff_kernel, self.eff_stride
        x = s_pre.reshape(len(s_pre), c, h, w)
        if pad:
            x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        view = np.lib.stride_tricks.sliding_window_view(x, (big, big), axis=(2, 3))
        view = view[:, :, ::step, ::step][:, :, :self.out_h, :self.out_w]  # (B, C, Ho, Wo, K, K)
        return view.transpose(0, 2, 3, 1, 4, 5).reshape(-1, c * big * big)

    def _positions(self, s_post):
        """Flat (B, C_out·H_out·W_out) → (B·H_out·W_out, C_out)."""
        c = self.post_shape[0]
        return s_post.reshape(len(s_post), c, -1).transpose(0, 2, 1).reshape(-1, c)

    def forward(self, w, s_pre):
        w_eff = self._fold(w)
        y = self._windows(s_pre) @ w_eff.reshape(len(w), -1).T          # (B·P, C_out)
        y = y.reshape(len(s_pre), -1, len(w)).transpose(0, 2, 1)
        return y.reshape(len(s_pre), -1)

    def backward(self, w, s_post):
        c, h, wd = self.pre_shape
        pad, big, step = self.padding, self.eff_kernel, self.eff_stride
        batch, ho, wo = len(s_post), self.out_h, self.out_w
        w_eff = self._fold(w)
        cols = self._positions(s_post) @ w_eff.reshape(len(w), -1)      # (B·P, C_in·K·K)
        cols = cols.reshape(batch, ho, wo, c, big, big).transpose(0, 3, 4, 5, 1, 2)
        out = np.zeros((batch, c, h + 2 * pad, wd + 2 * pad), dtype=cols.dtype)
        for u in range(big):            # col2im: each window's column added back in place
            for v in range(big):
                out[:, :, u:u + step * (ho - 1) + 1:step,
                    v:v + step * (wo - 1) + 1:step] += cols[:, :, u, v]
        return np.ascontiguousarray(out[:, :, pad:pad + h, pad:pad + wd]).reshape(batch, -1)

    def grad(self, s_pre, s_post):
        big = self.eff_kernel
        g_eff = self._positions(s_post).T @ self._windows(s_pre)          # (C_out, C_in·K·K)
        return self._unfold(g_eff.reshape(self.post_shape[0], self.pre_shape[0], big, big))


def make_edge(kind: str, pre_shape, post_shape, **options):
    """The edge of ``kind`` ('dense' or 'conv') between layers of these shapes."""
    if kind == "dense":
        return DenseEdge(tuple(pre_shape), tuple(post_shape))
    if kind == "conv":
        if len(pre_shape) != 3 or len(post_shape) != 3:
            raise ValueError(f"a conv edge joins (C, H, W) layers, got {tuple(pre_shape)} → "
                             f"{tuple(post_shape)}")
        return ConvEdge(tuple(pre_shape), tuple(post_shape), **options)
    raise ValueError(f"unknown edge kind {kind!r}; valid: dense, conv")
