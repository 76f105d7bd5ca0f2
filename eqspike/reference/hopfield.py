"""A layered Hopfield network with dense couplings, its dynamics and its EP update (NumPy).

Primitive (Ernoult et al. 2019, eq. 9, dense layers; layer 0 is the clamped input x)::

    Φ(x, s, θ) = Σ_l ⟨s_{l+1}, s_l W_l⟩ + Σ_{l≥1} ⟨b_l, s_l⟩

Discrete-time dynamics with a leak α (α = 1: s_{t+1} = ρ(∂Φ/∂s (x, s_t)), Ernoult et al.),
per layer, on the pre-activation u with s = ρ(u)::

    u_l ← u_l + α (s_{l−1} W_{l−1} + s_{l+1} W_lᵀ + b_l − u_l)            (hidden layer l)
    u_L ← u_L + α (s_{L−1} W_{L−1} + b_L + β (y − s_L) − u_L)             (output; β = 0 free)

All layers update synchronously from the previous step's states: the same schedule as the
spiking network, where a spike sent at one step is received at the next, and α = 1/tau_u is
the spiking neuron's leak. The leak matters for the nudge: with α = 1 the output iterates
s ← u₀ + β − β s, which oscillates (period 2) for β ≥ 1; with α = 1/2 and β = 1 the
multiplier (1 − α) − αβ is 0.

One-sided EP update (Scellier & Bengio 2017), from the free fixed point s⁰ and the nudged
one s^β, averaged over the batch::

    ΔW_l = (1/β) (s_l^βᵀ s_{l+1}^β − s_l⁰ᵀ s_{l+1}⁰) / B,   Δb_l = (1/β) mean(s_l^β − s_l⁰)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ACTIVATIONS", "DenseHopfield", "ep_update"]

#: ρ and its derivative, by name.
ACTIVATIONS = {
    "hard_sigmoid": (lambda u: np.clip(u, 0.0, 1.0),
                     lambda u: ((u > 0) & (u < 1)).astype(u.dtype)),
    "clipped_relu": (lambda u, c=1.0: np.clip(u, 0.0, c),
                     lambda u, c=1.0: ((u > 0) & (u < c)).astype(u.dtype)),
    "sigmoid": (lambda u: 1.0 / (1.0 + np.exp(-u)),
                lambda u: np.exp(-u) / (1.0 + np.exp(-u)) ** 2),
}


@dataclass
class DenseHopfield:
    """Weights W_l (n_l, n_{l+1}) and biases b_l (n_{l+1},) of a dense layered network."""

    weights: list
    biases: list
    activation: str = "hard_sigmoid"
    alpha: float = 1.0

    @property
    def rho(self):
        return ACTIVATIONS[self.activation][0]

    def zero_states(self, batch: int) -> list:
        """Pre-activations u = 0 for every non-input layer."""
        return [np.zeros((batch, w.shape[1])) for w in self.weights]

    def rates(self, states) -> list:
        """s = ρ(u) per layer."""
        return [self.rho(u) for u in states]

    def phi(self, x, rates) -> np.ndarray:
        """Φ per sample (B,), at the rates s of the non-input layers."""
        layers = [x] + list(rates)
        total = sum(np.einsum("bi,ij,bj->b", layers[k], w, layers[k + 1])
                    for k, w in enumerate(self.weights))
        return total + sum(s @ b for s, b in zip(rates, self.biases))

    def step(self, x, states, drive0=None, beta=0.0, target=None) -> list:
        """One synchronous step of every layer's u (see the module docstring)."""
        rates = [x] + self.rates(states)
        new = []
        n = len(states)
        for k in range(n):
            drive = drive0 if drive0 is not None and k == 0 else rates[k] @ self.weights[k]
            drive = drive + self.biases[k]
            if k + 1 < n:
                drive = drive + rates[k + 2] @ self.weights[k + 1].T
            if k == n - 1 and beta:
                drive = drive + beta * (target - rates[k + 1])
            new.append(states[k] + self.alpha * (drive - states[k]))
        return new

    def relax(self, x, states, steps: int, beta=0.0, target=None) -> list:
        """Run ``steps`` steps from pre-activations ``states``; x W_0 is computed once."""
        drive0 = x @ self.weights[0]
        for _ in range(steps):
            states = self.step(x, states, drive0, beta, target)
        return states


def ep_update(x, free: list, nudged: list, beta: float):
    """The one-sided EP update (ΔW per layer pair, Δb per layer), batch-averaged.

    ``free`` and ``nudged`` are the rates s = ρ(u) of the non-input layers at the end of
    each phase.
    """
    batch = len(x)
    lo_free, lo_nudged = [x] + free[:-1], [x] + nudged[:-1]
    d_w = [(a_n.T @ b_n - a_f.T @ b_f) / (beta * batch)
           for a_f, b_f, a_n, b_n in zip(lo_free, free, lo_nudged, nudged)]
    d_b = [(n - f).mean(axis=0) / beta for f, n in zip(free, nudged)]
    return d_w, d_b
