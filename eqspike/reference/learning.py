"""EP estimators, BPTT on the same dynamics, and the optimisers of the rate reference.

Every function returns *gradient estimates* g ≈ ∂L/∂θ, batch-averaged, so that an optimiser
descends them. From the free state s⁰ (T1 steps) and nudged states s^β (T2 steps):

* one-sided (Scellier & Bengio 2017):  g = −(1/β) (∂Φ/∂θ(s^β) − ∂Φ/∂θ(s⁰))
* random sign: the same with β drawn ±β per batch (Laborieux et al. 2021)
* symmetric (Laborieux et al. 2021):   g = −(1/2β) (∂Φ/∂θ(s^{+β}) − ∂Φ/∂θ(s^{−β})),
  both nudged phases starting from s⁰; its bias is O(β²) instead of O(β)
* continual (C-EP, Ernoult et al. 2020): the weights move at every nudged step by
  −lr·(σ/β_eff)(∂Φ/∂θ(s_{t+1}) − ∂Φ/∂θ(s_t)), one-sided, random-sign or symmetric
  (:func:`continual_phases`).

The cross-entropy read-out (not part of Φ) gets its exact gradient at s⁰.

BPTT (:func:`bptt`) runs reverse mode through the T free steps of the very same dynamics
(:meth:`~eqspike.reference.network.HopfieldNetwork.step_vjp`) for the loss at the last step,
and also returns the per-step pieces that the GDU check compares with EP (Ernoult et al.
2019): ∇_s(t) = ∂L/∂s_{T−t} and ∇_θ(t) = Σ of the parameter gradients of the last t steps.
"""

from __future__ import annotations

import numpy as np

from ..synapses import apply_update

__all__ = ["ep_gradients", "bptt", "SGD", "Adam", "make_optimizer", "learning_rates",
           "train_batch", "continual_phases"]


def _scale(grads: dict, factor: float) -> dict:
    return {k: v * factor for k, v in grads.items()}


def _diff(a: dict, b: dict) -> dict:
    return {k: a[k] - b[k] for k in a}


def ep_gradients(net, x, y, free_steps: int, nudge_steps: int, beta: float,
                 estimator: str = "symmetric", rng=None):
    """EP's gradient estimate for a batch: (grads, free states)."""
    batch = len(x)
    fixed = net.input_drive(x)
    free = net.relax(x, net.zero_states(batch), free_steps, fixed=fixed)
    if estimator == "symmetric":
        plus = net.relax(x, free, nudge_steps, beta, y, fixed=fixed)
        minus = net.relax(x, free, nudge_steps, -beta, y, fixed=fixed)
        grads = _scale(net.phi_grads_difference(x, net.rates(plus), net.rates(minus)),
                       -1.0 / (2 * beta * batch))
    elif estimator in ("one_sided", "random_sign"):
        b = beta
        if estimator == "random_sign":
            b = beta * (1.0 if (rng or np.random.default_rng()).random() < 0.5 else -1.0)
        nudged = net.relax(x, free, nudge_steps, b, y, fixed=fixed)
        grads = _scale(net.phi_grads_difference(x, net.rates(nudged), net.rates(free)),
                       -1.0 / (b * batch))
    else:
        raise ValueError(f"unknown estimator {estimator!r}; valid: one_sided, random_sign, "
                         "symmetric")
    if net.cross_entropy:
        grads.update(_scale(net.loss_grad(free, y)[1], 1.0 / batch))
    return grads, free


def bptt(net, x, y, steps: int, states=None):
    """Reverse mode through ``steps`` free steps from ``states`` (default zero) for the
    batch-summed loss at the last step.

    Returns (grads (batch-averaged, the total), per_step), where ``per_step[t]`` for
    t = 0..steps−1 has ``states``: ∂L/∂u_{T−t} (list per layer; per sample) and
    ``params``: ∂L/∂θ_{T−t−1}, the gradient through the parameters' use in step T−t−1 →
    T−t alone (batch-summed); the total is their sum.
    """
    trajectory = net.relax(x, states or net.zero_states(len(x)), steps, trajectory=True)
    g_states, readout = net.loss_grad(trajectory[-1], y)
    total = {name: np.zeros_like(p) for name, p in net.params.items()
             if name not in ("W_out", "b_out")}
    per_step = []
    for t in range(1, steps + 1):
        g_next = g_states
        g_states, step_grads = net.step_vjp(x, trajectory[-t - 1], g_next)
        for name, g in step_grads.items():
            total[name] = total[name] + g
        per_step.append({"states": g_next, "params": step_grads})
    grads = _scale(total, 1.0 / len(x))
    grads.update(_scale(readout, 1.0 / len(x)))
    return grads, per_step


class _StatefulOptimizer:
    """Optimiser state as named arrays, so that a checkpoint can hold it (exact resume).

    ``synapses``: with a chip's synapses (``[synapses]``), (its section, the device gains
    by name, the generator of its draws, the ranges by name,
    :func:`eqspike.synapses.parameter_ranges`): every weight then takes its change through the
    synapse's update (:func:`eqspike.synapses.apply_update`: decay, noise, rounding);
    biases (``b_l``, ``b_out``) always add theirs exactly. None: the ideal synapse.
    """

    synapses = None

    def _write(self, params: dict, name: str, change) -> None:
        """Add ``change`` to parameter ``name``, in place (see :attr:`synapses`)."""
        if self.synapses is None or name.startswith("b_"):
            params[name] += change
            return
        sy, gains, rng, ranges = self.synapses
        params[name][...] = apply_update(params[name], change, sy, gains.get(name), rng,
                                         ranges[name])

    def state_arrays(self) -> dict:
        out = {}
        for name, value in self.state.items():
            values = value if isinstance(value, tuple) else (value,)
            for k, v in enumerate(values):
                out[f"{name}/{k}"] = np.asarray(v, dtype=float)
        return out

    def load_state_arrays(self, arrays: dict) -> None:
        grouped = {}
        for key, value in arrays.items():
            name, k = key.rsplit("/", 1)
            grouped.setdefault(name, {})[int(k)] = value
        self.state = {name: self._restore(tuple(parts[k] for k in sorted(parts)))
                      for name, parts in grouped.items()}

    @staticmethod
    def _restore(parts):
        return parts[0]


class SGD(_StatefulOptimizer):
    """θ ← θ − lr (v), v ← μ v + g + λ θ (PyTorch's SGD with momentum μ, weight decay λ)."""

    def __init__(self, momentum: float = 0.0, weight_decay: float = 0.0):
        self.momentum, self.weight_decay = momentum, weight_decay
        self.state = {}

    def step(self, params: dict, grads: dict, rates: dict) -> None:
        for name, g in grads.items():
            if self.weight_decay:
                g = g + self.weight_decay * params[name]
            if self.momentum:
                v = self.state.get(name)
                g = g if v is None else self.momentum * v + g
                self.state[name] = g
            self._write(params, name, -(rates[name] * g))


class Adam(_StatefulOptimizer):
    """Adam (Kingma & Ba 2015) with L2 weight decay added to the gradient."""

    def __init__(self, weight_decay: float = 0.0, betas=(0.9, 0.999), eps: float = 1e-8):
        self.weight_decay, self.betas, self.eps = weight_decay, betas, eps
        self.state = {}

    def step(self, params: dict, grads: dict, rates: dict) -> None:
        b1, b2 = self.betas
        for name, g in grads.items():
            if self.weight_decay:
                g = g + self.weight_decay * params[name]
            m, v, t = self.state.get(name, (np.zeros_like(g), np.zeros_like(g), 0))
            t += 1
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            self.state[name] = (m, v, t)
            self._write(params, name, -(rates[name] * (m / (1 - b1 ** t))
                                        / (np.sqrt(v / (1 - b2 ** t)) + self.eps)))

    @staticmethod
    def _restore(parts):
        m, v, t = parts
        return m, v, int(np.asarray(t))


def make_optimizer(spec):
    ref = spec.reference
    if ref.optimizer == "adam":
        return Adam(ref.weight_decay)
    return SGD(ref.momentum, ref.weight_decay)


def learning_rates(net, spec, factor: float = 1.0) -> dict:
    """Rate per parameter: the edge's (``[learning] rates``, one per edge of the graph); a
    bias takes that of the first edge into its layer; the read-out ``readout_rate``."""
    edge_rates = dict(zip([f"W_{e.pre}_{e.post}" for e in spec.edges],
                          spec.learning.rates))
    rates = {name: edge_rates[name] * factor for name in net.edge_names}
    for name, fb in zip(net.edge_names, net.feedback_names):
        rates[fb] = rates[name]                      # an edge's own feedback weights
    for layer, incoming in net.incoming.items():
        rates[f"b_{layer}"] = rates[net.edge_names[incoming[0]]]
    if net.cross_entropy:
        rates["W_out"] = rates["b_out"] = spec.reference.readout_rate * factor
    return rates


def train_batch(net, optimizer, x, y, spec, rates: dict, rng) -> np.ndarray:
    """One EP training step on a batch; returns the free phase's predictions."""
    ph, ref = spec.phases, spec.reference
    if not ref.continual:
        grads, free = ep_gradients(net, x, y, ph.free_steps, ph.nudge_steps, ph.beta,
                                   ref.estimator, rng)
        optimizer.step(net.params, grads, rates)
        return np.argmax(net.output(free), axis=1)
    # continual EP: the weights move at every nudged step
    batch = len(x)
    fixed = net.input_drive(x)
    free = net.relax(x, net.zero_states(batch), ph.free_steps, fixed=fixed)
    prediction = np.argmax(net.output(free), axis=1)
    if net.cross_entropy:
        optimizer.step(net.params, _scale(net.loss_grad(free, y)[1], 1.0 / batch), rates)
    continual_phases(net, optimizer, x, y, free, ph.nudge_steps, ph.beta, ref.estimator,
                     rates, rng, fixed)
    return prediction


def continual_phases(net, optimizer, x, y, free, steps: int, beta: float, estimator: str,
                     rates: dict, rng=None, fixed=None, record=None,
                     step_scale=None) -> None:
    """C-EP's nudged phase(s) from the free states ``free`` (Ernoult et al. 2020).

    At every step t of a phase with nudge σβ (σ = ±1) the parameters move by the gradient
    estimate g_t = −(σ / (β_eff B)) (∂Φ/∂θ(s_{t+1}) − ∂Φ/∂θ(s_t)) through ``optimizer``, so
    that over the phase they telescope to the EP update. ``one_sided``: one +β phase,
    β_eff = β; ``random_sign``: σ drawn per batch; ``symmetric`` (Laborieux et al. 2021): a
    −β phase, then a +β phase that starts again from ``free`` with the parameters the −β
    phase left, β_eff = 2β. The input drive ``fixed`` stays that of the parameters at the
    phase's start (the clamped input receives no feedback, and its drive is computed once,
    as a graded input delivers it once in the spiking network). ``record(sign, step,
    params)``, if given, is called after every step. ``step_scale`` (``steps`` factors):
    the leak of each nudged step is multiplied by it, as the spiking network's
    ``[phases] nudge_anneal`` does (prototypical dynamics).
    """
    batch = len(x)
    fixed = net.input_drive(x) if fixed is None else fixed
    if estimator == "symmetric":
        signs, beta_eff = (-1.0, 1.0), 2.0 * beta
    elif estimator in ("one_sided", "random_sign"):
        sign = -1.0 if estimator == "random_sign" and (rng or np.random.default_rng()).random() < 0.5 else 1.0
        signs, beta_eff = (sign,), beta
    else:
        raise ValueError(f"unknown estimator {estimator!r}; valid: one_sided, random_sign, "
                         "symmetric")
    for sign in signs:
        states, before = free, net.phi_grads(x, net.rates(free))
        for t in range(steps):
            leak = net.alpha
            if step_scale is not None:
                net.alpha = leak * step_scale[t]
            try:
                states = net.step(x, states, sign * beta, y, fixed)
            finally:
                net.alpha = leak
            after = net.phi_grads(x, net.rates(states))
            optimizer.step(net.params, _scale(_diff(after, before), -sign / (beta_eff * batch)),
                           rates)
            before = after      # ∂Φ/∂θ depends on the states only (Φ is linear in each θ)
            if record is not None:
                record(sign, t, net.params)
