"""The first convolution edge of the rate reference (im2col index, sparse col2im matrix).

Kept as the oracle that :class:`eqspike.reference.edges.ConvEdge` is checked against
(``tests/test_reference.py``: equal to 1e-12 in float64) and measured against
(``benchmarks/bench_conv.py``), not used by the network.
"""

from __future__ import annotations

import numpy as np

from .edges import ConvEdge

__all__ = ["Im2colConvEdge"]


class Im2colConvEdge(ConvEdge):
    """:class:`~eqspike.reference.edges.ConvEdge`'s shapes and checks, its three products
    computed the first way: an im2col index gathers the windows, a sparse matrix adds them
    back (col2im), pooling applied after the convolution."""

    def __post_init__(self):
        super().__post_init__()
        c_in, h, w = self.pre_shape
        k, s, p = self.kernel, self.stride, self.padding
        # im2col: for each output position and each (c_in, dy, dx), the flat index of the
        # padded input (or of the appended zero when it falls in the padding)
        padded = np.full((c_in, h + 2 * p, w + 2 * p), c_in * h * w, dtype=np.int64)
        padded[:, p:p + h, p:p + w] = np.arange(c_in * h * w).reshape(c_in, h, w)
        oy, ox = np.meshgrid(np.arange(self.conv_h) * s, np.arange(self.conv_w) * s,
                             indexing="ij")
        dy, dx = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
        rows = oy.reshape(-1, 1, 1, 1) + dy.reshape(1, 1, k, k)
        cols = ox.reshape(-1, 1, 1, 1) + dx.reshape(1, 1, k, k)
        chans = np.arange(c_in).reshape(1, c_in, 1, 1)
        self._index = padded[chans, rows, cols].reshape(self.conv_h * self.conv_w, c_in * k * k)
        from scipy.sparse import csr_matrix

        flat = self._index.ravel()
        self._scatter = csr_matrix((np.ones(len(flat)), (flat, np.arange(len(flat)))),
                                   shape=(c_in * h * w + 1, len(flat)))   # col2im as a matrix

    def _columns(self, s_pre):
        """(B, positions, C_in k k) patches of the presynaptic states."""
        padded = np.concatenate([s_pre, np.zeros((len(s_pre), 1), s_pre.dtype)], axis=1)
        return padded[:, self._index]

    def _pool(self, y):
        """(B, C, H, W) → average over pool × pool blocks → (B, C·H/p·W/p)."""
        b, c, h, w = y.shape
        p = self.pool
        if p > 1:
            y = y.reshape(b, c, h // p, p, w // p, p).mean(axis=(3, 5))
        return y.reshape(b, -1)

    def _unpool(self, g):
        """The transpose of :meth:`_pool`: (B, C·H/p·W/p) → (B, C, H, W)."""
        c, p = self.post_shape[0], self.pool
        g = g.reshape(len(g), c, self.conv_h // p, self.conv_w // p)
        if p > 1:
            g = np.repeat(np.repeat(g, p, axis=2), p, axis=3) / (p * p)
        return g

    def forward(self, w, s_pre):
        y = self._columns(s_pre) @ w.reshape(len(w), -1).T          # (B, positions, C_out)
        y = y.transpose(0, 2, 1).reshape(len(s_pre), -1, self.conv_h, self.conv_w)
        return self._pool(y)

    def backward(self, w, s_post):
        g = self._unpool(s_post).reshape(len(s_post), self.post_shape[0], -1)
        cols = g.transpose(0, 2, 1) @ w.reshape(len(w), -1)           # (B, positions, CKK)
        out = self._scatter @ cols.reshape(len(s_post), -1).T        # col2im: (n_pre + 1, B)
        return np.ascontiguousarray(out[:-1].T)

    def grad(self, s_pre, s_post):
        g = self._unpool(s_post).reshape(len(s_post), self.post_shape[0], -1)   # (B, C, P)
        cols = self._columns(s_pre)                                              # (B, P, CKK)
        return np.einsum("bcp,bpk->ck", g, cols, optimize=True).reshape(self.weight_shape)
