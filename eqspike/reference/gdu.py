"""The GDU check (Ernoult et al. 2019): EP's step-by-step updates against BPTT's gradients.

From the free fixed point s* (T1 free steps), the nudged phase runs K steps. For every step
t = 0..K−1 EP gives, for every parameter and every layer's state,

    ΔEP_θ(t) = (1/β) (∂Φ/∂θ(s^β_{t+1}) − ∂Φ/∂θ(s^β_t)),     ΔEP_s(t) = (u^β_{t+1} − u^β_t) / β',

(β' = β·ε for the primitive dynamics, β·leak for the prototypical ones: the nudge's weight in
one step) and its symmetric form from +β and −β phases, (ΔEP(+β) + ΔEP(−β)) / 2. BPTT run
for K steps from s* with the loss at the end gives

    ∇_θ(t) = ∂L/∂θ_{K−t−1} (the parameters' use in one step),   ∇_s(t) = ∂L/∂u_{K−t}.

The GDU property: ΔEP(t) → −∇(t) for every t as β → 0 when the dynamics derive from a
primitive (``[reference] dynamics = "primitive"``); one-sided with an error O(β), symmetric
O(β²). In the prototypical dynamics the ρ' factors differ and the match is approximate.

:func:`gdu_check` computes everything; :func:`write_gdu` stores it (layout in its
docstring, enough to recompute both sides with another tool); :func:`plot_gdu` draws
Ernoult et al.'s Fig. 3 style curves.
"""

from __future__ import annotations

import json

import numpy as np

from .learning import bptt

__all__ = ["gdu_check", "write_gdu", "plot_gdu", "summary_table", "gdu_setting", "run_gdu"]


def _ep_steps(net, x, y, free, steps, beta, scale_states) -> dict:
    """ΔEP(t) of the parameters and of the states u_l, for a nudged phase of strength β."""
    trajectory = net.relax(x, free, steps, beta, y, trajectory=True)
    grads = [net.phi_grads(x, net.rates(s)) for s in trajectory]
    params = {k: np.stack([(grads[t + 1][k] - grads[t][k]) / beta for t in range(steps)])
              for k in grads[0]}
    states = {f"u_{l + 1}": np.stack([(trajectory[t + 1][l] - trajectory[t][l])
                                      / (beta * scale_states) for t in range(steps)])
              for l in range(len(free))}
    return {"params": params, "states": states}


def _summary(ep: dict, bp: dict) -> dict:
    """Per step and parameter: ‖ΔEP + ∇‖ / max_t ‖∇‖, and the fraction of entries whose
    ΔEP has the sign of −∇ (over entries where ∇ ≠ 0)."""
    error, sign = {}, {}
    for k in bp:
        b, e = bp[k].reshape(len(bp[k]), -1), ep[k].reshape(len(ep[k]), -1)
        norm = np.max(np.linalg.norm(b, axis=1))
        error[k] = np.linalg.norm(e + b, axis=1) / (norm if norm > 0 else 1.0)
        nonzero = b != 0
        agree = (np.sign(e) == -np.sign(b)) & nonzero
        with np.errstate(invalid="ignore"):
            sign[k] = agree.sum(axis=1) / nonzero.sum(axis=1)
    return {"relative_error": error, "sign_agreement": sign}


def gdu_check(net, x, y, free_steps: int, nudge_steps: int, beta: float) -> dict:
    """EP (one-sided and symmetric) and BPTT, step by step, for one batch (see module)."""
    free = net.relax(x, net.zero_states(len(x)), free_steps)
    residual = max(float(np.max(np.abs(a - b))) for a, b in zip(net.step(x, free), free))
    _, per_step = bptt(net, x, y, nudge_steps, states=free)
    bp = {"params": {k: np.stack([p["params"][k] for p in per_step])
                     for k in per_step[0]["params"]},
          "states": {f"u_{l + 1}": np.stack([p["states"][l] for p in per_step])
                     for l in range(len(free))}}
    scale = net.epsilon if net.primitive else net.alpha
    one = _ep_steps(net, x, y, free, nudge_steps, beta, scale)
    minus = _ep_steps(net, x, y, free, nudge_steps, -beta, scale)
    sym = {kind: {k: (one[kind][k] + minus[kind][k]) / 2 for k in one[kind]}
           for kind in ("params", "states")}
    return {
        "beta": beta, "free_steps": free_steps, "nudge_steps": nudge_steps,
        "free_residual": residual, "bptt": bp, "one_sided": one, "symmetric": sym,
        "summary": {name: _summary({**ep["params"], **ep["states"]},
                                   {**bp["params"], **bp["states"]})
                    for name, ep in (("one_sided", one), ("symmetric", sym))},
    }


def write_gdu(path, result: dict, spec, params: dict, x, y) -> None:
    """Store a GDU check in HDF5. Layout::

        /                 attrs: format="eqspike-gdu", beta, free_steps (T1),
                                 nudge_steps (K), free_residual (max |F(s*) − s*|)
        /network          attrs: toml (the network definition)
        /params/NAME      the parameters θ (W_pre_post, b_l, [W_out, b_out])
        /batch/x, /batch/y  the inputs (B, n_0) and one-hot targets (B, n_out)
        /bptt/params/NAME (K, *shape)  ∇_θ(t) = ∂L/∂θ_{K−t−1}, batch-summed, L = Σ_b loss
        /bptt/states/u_l  (K, B, n_l)  ∇_s(t) = ∂L/∂u_{K−t}
        /one_sided/...    ΔEP(t) with the same names and shapes (+β only)
        /symmetric/...    (ΔEP(+β) + ΔEP(−β)) / 2
        /summary/{one_sided,symmetric}/{relative_error,sign_agreement}/NAME  (K,)

    The states u are pre-activations (s = ρ(u)); the free phase starts from u = 0.
    """
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs.update({"format": "eqspike-gdu", "beta": result["beta"],
                        "free_steps": result["free_steps"],
                        "nudge_steps": result["nudge_steps"],
                        "free_residual": result["free_residual"]})
        f.create_group("network").attrs["toml"] = spec.to_toml()
        for name, value in params.items():
            f.create_dataset(f"params/{name}", data=value)
        f.create_dataset("batch/x", data=x)
        f.create_dataset("batch/y", data=y)
        for method in ("bptt", "one_sided", "symmetric"):
            for kind in ("params", "states"):
                for name, value in result[method][kind].items():
                    f.create_dataset(f"{method}/{kind}/{name}", data=value)
        for method, summary in result["summary"].items():
            for measure, values in summary.items():
                for name, value in values.items():
                    f.create_dataset(f"summary/{method}/{measure}/{name}", data=value)
        f.attrs["summary_json"] = json.dumps(summary_table(result))


def summary_table(result: dict) -> dict:
    """Median over steps of each measure, per method and parameter/state."""
    return {method: {measure: {k: float(np.nanmedian(v)) for k, v in values.items()}
                     for measure, values in summary.items()}
            for method, summary in result["summary"].items()}


def plot_gdu(result: dict, out_png, n_curves: int = 4, seed: int = 0) -> None:
    """Ernoult et al. Fig. 3 style: for a few entries of each parameter and state, ΔEP(t)
    (dashed: one-sided, dotted: symmetric) and −∇BPTT(t) (solid) against t."""
    from ..figures import subplots

    rng = np.random.default_rng(seed)
    names = [(kind, name) for kind in ("states", "params")
             for name in result["bptt"][kind]]
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig, axes = subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    steps = np.arange(result["nudge_steps"])
    for ax, (kind, name) in zip(axes.ravel(), names):
        bp = result["bptt"][kind][name].reshape(len(steps), -1)
        one = result["one_sided"][kind][name].reshape(len(steps), -1)
        sym = result["symmetric"][kind][name].reshape(len(steps), -1)
        strongest = np.argsort(-np.abs(bp).max(axis=0))[:max(4 * n_curves, 1)]
        chosen = rng.choice(strongest, min(n_curves, len(strongest)), replace=False)
        for c, index in enumerate(chosen):
            color = f"C{c}"
            ax.plot(steps, -bp[:, index], "-", color=color, lw=1.5)
            ax.plot(steps, one[:, index], "--", color=color, lw=1)
            ax.plot(steps, sym[:, index], ":", color=color, lw=2)
        ax.set_title(f"{name}", fontsize=9)
        ax.set_xlabel("t (nudged step)", fontsize=8)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    fig.suptitle(f"GDU: −∇BPTT (solid), ΔEP one-sided (dashed), symmetric (dotted); "
                 f"β = {result['beta']:g}, T1 = {result['free_steps']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)


def gdu_setting(spec, params=None, *, batch: int = 20, data_dir=None, download: bool = True):
    """What the check runs on: (the network in float64, its parameters, the first ``batch``
    training images x and one-hot targets y). ``params``: a checkpoint's (default: the
    network's initial ones, :func:`eqspike.reference.network.init_params`). The check
    compares two gradients to ~1e-10, so it computes in float64 whatever ``[reference]
    precision`` says."""
    from ..data import network_inputs
    from ..errors import UsageError
    from .network import HopfieldNetwork, init_params

    if spec.network.path != "rate":
        raise UsageError(f"{spec.name} is not a rate-reference network ([network] path = "
                         "\"rate\"); the GDU check runs on the rate reference")
    params = params or init_params(spec, spec.training.seed)
    net = HopfieldNetwork(spec, {k: np.asarray(v, dtype=np.float64) for k, v in params.items()})
    x, labels = network_inputs(spec, "train", data_dir, download, batch, np.float64)
    return net, params, x, np.eye(spec.layers[-1])[labels]


def gdu_paths(out, betas) -> list:
    """The files :func:`run_gdu` writes for each β: ``out`` for the first, ``OUT-betaB.h5``
    for the others (each with its PNG beside it)."""
    from pathlib import Path

    out = Path(out)
    return [out if index == 0 else out.with_name(f"{out.stem}-beta{beta:g}{out.suffix}")
            for index, beta in enumerate(betas)]


def run_gdu(spec, out, betas, *, params=None, t1=None, k=None, batch: int = 20,
            data_dir=None, download: bool = True):
    """The check for each β: writes ``out`` (the first β) and ``OUT-betaB.h5`` (the others),
    each with its PNG, and yields (β, path, result, :func:`summary_table`) as each is done."""
    from pathlib import Path

    net, params, x, y = gdu_setting(spec, params, batch=batch, data_dir=data_dir,
                                    download=download)
    t1, k = t1 or spec.phases.free_steps, k or spec.phases.nudge_steps
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    for beta, path in zip(betas, gdu_paths(out, betas)):
        result = gdu_check(net, x, y, t1, k, beta)
        write_gdu(path, result, spec, params, x, y)
        plot_gdu(result, path.with_suffix(".png"))
        yield beta, path, result, summary_table(result)
