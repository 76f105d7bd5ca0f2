"""The layered Hopfield network of the rate reference: primitive Φ, dynamics, their gradients.

Primitive (Ernoult et al. 2019; Hopfield-Resnet skip couplings: Elayedam & Srinivasan), with
layer 0 the clamped input x and s_l = ρ(u_l) the rates of the other layers::

    Φ(x, s, θ) = Σ_edges ⟨s_post, A_e(W_e) s_pre⟩ + Σ_{l≥1} ⟨b_l, s_l⟩

where an edge is dense or convolutional and may join non-adjacent layers
(:mod:`eqspike.reference.edges`). Its gradient in s_l, the *drive* of layer l, is
D_l = Σ_{e→l} A_e s_pre + Σ_{l→e} A_eᵀ s_post + b_l. Two dynamics on the state u:

* ``prototypical`` (the networks of Ernoult et al. and Laborieux et al.), with leak α::

      u_{t+1} = u_t + α (D(ρ(u_t)) + ν − u_t)        (α = 1:  s_{t+1} = ρ(∂Φ/∂s(s_t)))

* ``primitive`` (the setting of the GDU theorem): u_{t+1} = ∂Φ_ε/∂u (u_t) exactly, with
  Φ_ε(u) = ½(1 − ε)‖u‖² + ε (Φ(x, ρ(u)) − β L)::

      u_{t+1} = (1 − ε) u_t + ε ρ'(u_t) ⊙ (D(ρ(u_t)) + ν)

ν is the nudge, −β ∂L/∂s on the last layer, 0 in the free phase: β (y − s_L) for the
squared error L = ½‖y − s_L‖² (``mse``), and β (y − o) W_oᵀ for the cross-entropy of a
softmax read-out o = softmax(s_L W_o + b_o) of the last layer (``cross_entropy``,
Laborieux et al. 2021; the read-out is not part of Φ).

Every layer updates synchronously from the previous step's states, the schedule of the
spiking network (a spike sent at one step is received at the next).

With one-way couplings (``[synapses] coupling = "asymmetric"``, :mod:`eqspike.synapses`)
an edge between non-input layers feeds its lower layer through weights B_e of its own:
D_l = Σ_{e→l} A_e(W_e) s_pre + Σ_{l→e} A_e(B_e)ᵀ s_post + b_l, a vector field that no Φ
integrates (Scellier et al. 2018; Ernoult et al. 2020's C-VF); EP's update of each
synapse is still the product of the two neurons it joins, the same for W_e and B_e
(:meth:`HopfieldNetwork.phi_grads_difference`), and BPTT differentiates the dynamics as
they are (:meth:`HopfieldNetwork.step_vjp`).
"""

from __future__ import annotations

import numpy as np

from ..parameters import edge_name, feedback_name, init_parameters, loss_of
from ..synapses import feedback_edges
from ..spec import SpecError
from .edges import make_edge

__all__ = ["ACTIVATIONS", "HopfieldNetwork", "init_params", "spiking_twin"]


def _hard_sigmoid(c):
    return (lambda u: np.clip(u, 0.0, 1.0),
            lambda u: ((u > 0) & (u < 1)).astype(u.dtype),
            lambda u: np.zeros_like(u))


def _clipped_relu(c):
    return (lambda u: np.clip(u, 0.0, c),
            lambda u: ((u > 0) & (u < c)).astype(u.dtype),
            lambda u: np.zeros_like(u))


def _sigmoid(c):
    def rho(u):
        return 0.5 * (1.0 + np.tanh(0.5 * u))

    def d1(u):
        r = rho(u)
        return r * (1.0 - r)

    def d2(u):
        r = rho(u)
        return r * (1.0 - r) * (1.0 - 2.0 * r)

    return rho, d1, d2


#: ρ, ρ' and ρ'' by name, given the clip c (used by ``clipped_relu`` only).
ACTIVATIONS = {"hard_sigmoid": _hard_sigmoid, "clipped_relu": _clipped_relu,
               "sigmoid": _sigmoid}


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def init_params(spec, seed: int) -> dict:
    """The initial parameters (:func:`eqspike.parameters.init_parameters`, the one
    initialiser both engines use), rounded to ``[reference] precision``."""
    return {k: v.astype(spec.reference.precision)
            for k, v in init_parameters(spec, seed).items()}


def spiking_twin(spec, weights, biases, feedback=None) -> "HopfieldNetwork":
    """The rate network that a spiking network definition approximates: its graph of dense
    edges (skip couplings included), hard sigmoid, the spiking network's loss and leak
    α = 1/tau_u (the spiking neuron's), with weights (n_pre, n_post) per edge in the order of
    ``spec.edges``, biases b_l given as lists, and with one-way couplings each edge's own
    feedback weights (``feedback``, None where an edge has none). With ``[spiking] loss =
    "cross_entropy"`` the output layer's edge and bias are the read-out's ``W_out`` and
    ``b_out``, and the twin nudges with the read-out's cross-entropy."""
    params = {edge_name(e): np.asarray(w, dtype=float) for e, w in zip(spec.edges, weights)}
    params.update({feedback_name(e): np.asarray(b, dtype=float)
                   for e, b in zip(spec.edges, feedback or []) if b is not None})
    params.update({f"b_{k + 1}": np.asarray(b, dtype=float) for k, b in enumerate(biases)})
    if loss_of(spec) == "cross_entropy":         # the read-out: its edge and bias
        last = len(spec.layers) - 1
        readout = next(e for e in spec.edges if e.post == last)
        params["W_out"] = params.pop(edge_name(readout))
        params["b_out"] = params.pop(f"b_{last}")
    return HopfieldNetwork(spec, params, alpha=1.0 / spec.spiking.tau_u)


class HopfieldNetwork:
    """A network definition's rate reference: edges, dynamics and gradients, batched.

    ``params``: {"W_pre_post": array, "b_l": array, ["W_out", "b_out"]} (see
    :func:`init_params`). States are lists of (B, n_l) arrays u_l for l = 1..L. With the
    cross-entropy loss the last layer of ``[network] layers`` is the read-out's output, so
    the states cover layers 1..L−1.
    """

    def __init__(self, spec, params, alpha: float | None = None):
        ref = spec.reference
        self.spec = spec
        self.params = params
        shapes = list(spec.shapes)
        self.cross_entropy = loss_of(spec) == "cross_entropy"
        if self.cross_entropy:
            shapes = shapes[:-1]                       # the output is the read-out, not a state
        self.shapes = shapes
        self.sizes = [int(np.prod(s)) for s in shapes]
        self.specs = [e for e in spec.edges if e.post < len(shapes)]
        if self.cross_entropy and len(self.specs) != len(spec.edges):
            dropped = [e for e in spec.edges if e.post >= len(shapes)]
            if any(e.pre != len(shapes) - 1 or e.kind != "dense" for e in dropped):
                raise SpecError(f"{spec.name}: with the cross-entropy loss, the only edge into "
                                 "the output layer is the dense read-out from the last layer")
        self.edges = [make_edge(e.kind, shapes[e.pre], shapes[e.post], **(
            {"kernel": e.kernel, "stride": e.stride, "padding": e.padding, "pool": e.pool}
            if e.kind == "conv" else {})) for e in self.specs]
        self.edge_names = [edge_name(e) for e in self.specs]
        if len(set(self.edge_names)) != len(self.edge_names):
            raise SpecError(f"{spec.name}: two edges join the same pair of layers")
        own = {(spec.edges[k].pre, spec.edges[k].post) for k in feedback_edges(spec)}
        #: per edge, the weights that feed its lower layer: W itself, or B (one-way)
        self.feedback_names = [feedback_name(e) if (e.pre, e.post) in own else name
                               for e, name in zip(self.specs, self.edge_names)]
        self.incoming = {l: [k for k, e in enumerate(self.specs) if e.post == l]
                         for l in range(1, len(shapes))}
        self.outgoing = {l: [k for k, e in enumerate(self.specs) if e.pre == l]
                         for l in range(len(shapes))}
        self.rho, self.rho1, self.rho2 = ACTIVATIONS[spec.network.activation](ref.clip)
        self.primitive = ref.dynamics == "primitive"
        self.alpha = ref.leak if alpha is None else alpha
        self.epsilon = ref.epsilon

    # -- states -----------------------------------------------------------------------
    def zero_states(self, batch: int) -> list:
        """u = 0 for every non-input layer, of the parameters' array type and dtype (NumPy,
        or CuPy through ``like=``: the rest of the code dispatches on its arguments)."""
        ref = next(iter(self.params.values()))
        return [np.zeros((batch, n), dtype=ref.dtype, like=ref) for n in self.sizes[1:]]

    def rates(self, states) -> list:
        """s = ρ(u) per non-input layer."""
        return [self.rho(u) for u in states]

    def output(self, states) -> np.ndarray:
        """What the loss reads: the last layer's rates (mse) or the read-out's softmax."""
        last = self.rho(states[-1])
        if self.cross_entropy:
            return _softmax(last @ self.params["W_out"] + self.params["b_out"])
        return last

    def loss(self, states, target) -> np.ndarray:
        """L per sample: ½‖y − s_L‖² or the cross-entropy of the read-out."""
        out = self.output(states)
        if self.cross_entropy:
            return -np.sum(target * np.log(np.maximum(out, 1e-300)), axis=1)
        return 0.5 * np.sum((target - out) ** 2, axis=1)

    # -- the primitive and its gradients ----------------------------------------------
    def input_drive(self, x) -> dict:
        """A_e x for every edge leaving the clamped input: computed once per relaxation."""
        return {k: self.edges[k].forward(self.params[self.edge_names[k]], x)
                for k in self.outgoing[0]}

    def drives(self, x, rates, fixed=None) -> list:
        """D_l = ∂Φ/∂s_l for l = 1..L (``rates``: s_1..s_L; ``fixed``: :meth:`input_drive`)."""
        layers = [x] + list(rates)
        fixed = self.input_drive(x) if fixed is None else fixed
        out = [None] * len(rates)

        def add(layer, term):           # the first term plus the bias makes a new array
            if out[layer] is None:
                out[layer] = term + self.params[f"b_{layer + 1}"]
            else:
                np.add(out[layer], term, out=out[layer])

        for k, (spec, edge) in enumerate(zip(self.specs, self.edges)):
            w = self.params[self.edge_names[k]]
            add(spec.post - 1, fixed[k] if spec.pre == 0 else edge.forward(w, layers[spec.pre]))
            if spec.pre > 0:
                add(spec.pre - 1, edge.backward(self.params[self.feedback_names[k]],
                                                layers[spec.post]))
        return out

    def phi(self, x, rates) -> np.ndarray:
        """Φ per sample (B,)."""
        layers = [x] + list(rates)
        total = sum((self.params[f"b_{l}"] * r).sum(axis=1) for l, r in enumerate(rates, 1))
        for k, (spec, edge) in enumerate(zip(self.specs, self.edges)):
            a = edge.forward(self.params[self.edge_names[k]], layers[spec.pre])
            total = total + (a * layers[spec.post]).sum(axis=1)
        return total

    def phi_grads(self, x, rates) -> dict:
        """∂Φ/∂θ summed over the batch: grad_e(s_pre, s_post) per edge, Σ s_l per bias."""
        layers = [x] + list(rates)
        out = {name: edge.grad(layers[s.pre], layers[s.post])
               for name, s, edge in zip(self.edge_names, self.specs, self.edges)}
        out.update({f"b_{l}": r.sum(axis=0) for l, r in enumerate(rates, start=1)})
        return self._with_feedback(out)

    def phi_grads_difference(self, x, rates, other) -> dict:
        """:meth:`phi_grads` at ``rates`` minus at ``other`` (EP's update). An edge from the
        clamped input is linear in its postsynaptic state, so its difference is one product,
        grad_e(x, s_post − s'_post), not two."""
        a, b = [x] + list(rates), [x] + list(other)
        out = {}
        for name, s, edge in zip(self.edge_names, self.specs, self.edges):
            if s.pre == 0:
                out[name] = edge.grad(x, a[s.post] - b[s.post])
            else:
                out[name] = edge.grad(a[s.pre], a[s.post]) - edge.grad(b[s.pre], b[s.post])
        out.update({f"b_{l}": (r - q).sum(axis=0)
                    for l, (r, q) in enumerate(zip(rates, other), start=1)})
        return self._with_feedback(out)

    def _with_feedback(self, grads: dict) -> dict:
        """``grads`` with each edge's own feedback weights B given its W's (each synapse's
        local update is the product of the two neurons it joins)."""
        for name, fb in zip(self.edge_names, self.feedback_names):
            if fb != name:
                grads[fb] = grads[name]
        return grads

    def nudge(self, states, beta: float, target) -> np.ndarray:
        """ν on the last layer: −β ∂L/∂s_L."""
        if self.cross_entropy:
            return beta * (target - self.output(states)) @ self.params["W_out"].T
        return beta * (target - self.rho(states[-1]))

    # -- dynamics ---------------------------------------------------------------------
    def step(self, x, states, beta: float = 0.0, target=None, fixed=None) -> list:
        """One synchronous step of every layer (see the module docstring)."""
        drive = self.drives(x, self.rates(states), fixed)
        if beta:
            drive[-1] = drive[-1] + self.nudge(states, beta, target)
        if self.primitive:
            eps = self.epsilon
            return [(1 - eps) * u + eps * self.rho1(u) * d for u, d in zip(states, drive)]
        a = self.alpha
        if a == 1:                       # no leak: u_{t+1} = D, the step it reduces to
            return drive
        return [u + a * (d - u) for u, d in zip(states, drive)]

    def relax(self, x, states, steps: int, beta: float = 0.0, target=None,
              trajectory: bool = False, fixed=None):
        """Run ``steps`` steps; returns the final states (or all of them, first included).
        ``fixed``: :meth:`input_drive` of ``x`` if already computed (it is constant)."""
        fixed = self.input_drive(x) if fixed is None else fixed
        seen = [states]
        for _ in range(steps):
            states = self.step(x, states, beta, target, fixed)
            if trajectory:
                seen.append(states)
        return seen if trajectory else states

    def step_vjp(self, x, states, grad_next) -> tuple:
        """Reverse mode through one free step (β = 0): given ∂L/∂u_{t+1}, returns ∂L/∂u_t
        and the step's ∂L/∂θ (dict, batch-summed)."""
        rates = self.rates(states)
        layers = [x] + rates
        drive = self.drives(x, rates) if self.primitive else None
        if self.primitive:
            eps = self.epsilon
            g_drive = [eps * self.rho1(u) * g for u, g in zip(states, grad_next)]
            g_states = [(1 - eps) * g + eps * self.rho2(u) * d * g
                        for u, d, g in zip(states, drive, grad_next)]
        else:
            a = self.alpha
            g_drive = [a * g for g in grad_next]
            g_states = [(1 - a) * g for g in grad_next]
        g_rates = [np.zeros_like(r) for r in rates]
        grads = {f"b_{l}": g.sum(axis=0) for l, g in enumerate(g_drive, start=1)}
        for k, (spec, edge) in enumerate(zip(self.specs, self.edges)):
            w, name = self.params[self.edge_names[k]], self.edge_names[k]
            fb = self.feedback_names[k]
            g_post = g_drive[spec.post - 1]
            grads[name] = edge.grad(layers[spec.pre], g_post)
            if spec.pre > 0:
                g_pre = g_drive[spec.pre - 1]
                # the lower layer's drive A(B)ᵀ s_post: B's gradient (W's, when B is W)
                back = edge.grad(g_pre, layers[spec.post])
                grads[fb] = grads[fb] + back if fb == name else back
                g_rates[spec.pre - 1] += edge.backward(w, g_post)
                g_rates[spec.post - 1] += edge.forward(self.params[fb], g_pre)
        g_states = [gs + self.rho1(u) * gr for gs, u, gr in zip(g_states, states, g_rates)]
        return g_states, grads

    def loss_grad(self, states, target) -> tuple:
        """∂(Σ_b L)/∂u_L (as a list over layers) and ∂/∂(read-out parameters)."""
        grads = [np.zeros_like(u) for u in states]
        last = self.rho(states[-1])
        out = {}
        if self.cross_entropy:
            error = self.output(states) - target                        # ∂CE/∂z
            out = {"W_out": last.T @ error, "b_out": error.sum(axis=0)}
            g_last = error @ self.params["W_out"].T
        else:
            g_last = last - target
        grads[-1] = self.rho1(states[-1]) * g_last
        return grads, out

    def predict(self, x, steps: int) -> np.ndarray:
        """The class of each sample after ``steps`` free steps from zero."""
        states = self.relax(x, self.zero_states(len(x)), steps)
        return np.argmax(self.output(states), axis=1)
