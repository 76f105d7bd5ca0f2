"""One-way couplings: how B aligns with W over training, and how far EP's update then is
from the gradient.

    python analysis/asymmetric.py RUN.h5 [RUN2.h5 ...] [--ep-bptt] [--samples 200]
                                  [--beta 0.5,0.02] [--free-steps T1 --nudge-steps K]
                                  [--out asymmetric.png]

For each run file with feedback weights of its own (``[synapses] coupling = "asymmetric"``,
spiking or rate), at its initial checkpoint and after every epoch: the angle between B and
W, edge by edge (0°: aligned; ~90°: independent draws). With ``--ep-bptt`` also, on the
network's rate dynamics (a rate run's own; a spiking run's rate twin,
:func:`eqspike.reference.network.spiking_twin`) and ``--samples`` training images: the
angle between EP's symmetric update (η/2β)(ρ⁺ρ⁺ − ρ⁻ρ⁻), summed over the images, and
−∇L, BPTT's gradient of the loss after the free phase (Ernoult et al. 2019's comparison,
here of the whole update), for every W, at each β of ``--beta`` (default: the run's own).
A finite β biases the estimate, more so with the hard sigmoid's kinks: on mnist-rate's
initial weights the symmetric network's angle is 58° at its training β = 0.5 and 4° at
β = 0.02, so the small-β angle measures the coupling, the training-β one the update the
network really received. The phases must also be long enough for the rate dynamics to
settle: on mnist-deep's rate twin (trained with T1 = 40, K = 12), at its epoch-4 weights,
the symmetric network's angle at β = 0.02 is 25–47° with those phases and 11–16° with
T1 = 150, K = 60 (``--free-steps``, ``--nudge-steps``); over its five checkpoints it
ranges over 15–57° (T1 = 40) and 9–79° (T1 = 150), so there the angle does not measure
the coupling. Writes the figure (PNG: the angles against the
epoch) and the numbers (CSV).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # analysis/: learning_curve
from learning_curve import point_settings  # noqa: E402


def angle(a, b) -> float:
    """The angle between two arrays, in degrees."""
    a, b = np.ravel(a).astype(float), np.ravel(b).astype(float)
    cos = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def rate_network(run, point):
    """The rate dynamics a checkpoint runs on: a rate run's own network, a spiking run's
    twin (with its feedback weights)."""
    from eqspike.reference.network import HopfieldNetwork, spiking_twin

    if run.engine == "rate":
        return HopfieldNetwork(run.spec, {k: np.asarray(v, dtype=float)
                                          for k, v in point.params.items()})
    return spiking_twin(run.spec, point.weights, point.biases, point.feedback)


def ep_bptt_angles(run, point, x, y, betas, free_steps=None, nudge_steps=None) -> dict:
    """Per β and W: the angle between EP's symmetric update at that β and −(BPTT's
    gradient) on images ``x``, with the run's phase lengths or the ones given."""
    from eqspike.reference.learning import bptt, ep_gradients

    net = rate_network(run, point)
    free = free_steps or run.spec.phases.free_steps
    nudge = nudge_steps or run.spec.phases.nudge_steps
    grads, _ = bptt(net, x, y, free)
    out = {}
    for beta in betas:
        ep, _ = ep_gradients(net, x, y, free, nudge, beta, "symmetric")
        for name in net.edge_names:
            if name in grads and name in ep:
                out[beta, name] = angle(ep[name], grads[name])
    return out


def main(argv=None):
    from matplotlib.ticker import MaxNLocator

    from eqspike.data import load_dataset, rates_from_images
    from eqspike.figures import subplots
    from eqspike.runfile import read_run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--ep-bptt", action="store_true")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--beta", help="comma-separated β values for --ep-bptt "
                        "(default: each run's own)")
    parser.add_argument("--free-steps", type=int, help="--ep-bptt: the free phase's steps "
                        "(default: each run's own; a deep network's rate twin may need more "
                        "to settle than its training used)")
    parser.add_argument("--nudge-steps", type=int, help="--ep-bptt: the nudged phases' steps")
    parser.add_argument("--data-dir")
    parser.add_argument("--out", default="asymmetric.png")
    args = parser.parse_args(argv)
    betas = None
    if args.beta:
        try:
            betas = [float(b) for b in args.beta.split(",")]
        except ValueError:
            parser.error(f"--beta {args.beta!r}: expected numbers separated by commas")
        if any(not b > 0 for b in betas):
            parser.error(f"--beta {args.beta!r}: every β must be positive")
    for name in ("free_steps", "nudge_steps"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    rows = []
    for path in args.runs:
        run = read_run(path)
        names = ["initial"] + sorted(k for k in run.checkpoints if k.startswith("epoch_"))
        if args.ep_bptt:
            data = load_dataset(run.spec.network.dataset, "train", args.data_dir)
            x = rates_from_images(data.images[:args.samples]).astype(float)
            y = np.eye(run.spec.layers[-1])[data.labels[:args.samples]]
        for epoch, name in enumerate(names):
            point = run.checkpoints[name]
            for e, w, b in zip(run.spec.edges, point.weights, point.feedback or
                               [None] * len(run.spec.edges)):
                if b is not None:
                    rows.append({"run": Path(path).stem, "epoch": epoch,
                                 "quantity": f"B vs W, {e.pre}-{e.post}", "degrees": angle(b, w)})
            if args.ep_bptt:
                found = ep_bptt_angles(run, point, x, y, betas or [run.spec.phases.beta],
                                       args.free_steps, args.nudge_steps)
                for (beta, edge), degrees in found.items():
                    rows.append({"run": Path(path).stem, "epoch": epoch,
                                 "quantity": f"EP (beta {beta:g}) vs -BPTT, {edge}",
                                 "degrees": degrees})
    out = Path(args.out)
    with open(out.with_suffix(".csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["run", "epoch", "quantity", "degrees"])
        writer.writeheader()
        writer.writerows(rows)
    kinds = sorted({r["quantity"].split(",")[0] for r in rows})
    fig, axes = subplots(1, len(kinds), figsize=(6.2 * len(kinds), 4.4))
    axes = np.atleast_1d(axes)
    for ax, kind in zip(axes, kinds):
        for key in sorted({(r["run"], r["quantity"]) for r in rows
                           if r["quantity"].startswith(kind)}):
            mine = [r for r in rows if (r["run"], r["quantity"]) == key]
            ax.plot([r["epoch"] for r in mine], [r["degrees"] for r in mine], "o-",
                    label=f"{point_settings(key[0])}: {key[1].split(', ')[1]}")
        ax.set_xlabel("epoch (0: the initial weights)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("angle (degrees)")
        ax.set_title(kind, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    for r in rows:
        print(f"{r['run']:32s} epoch {r['epoch']:2d}  {r['quantity']:24s} {r['degrees']:6.1f}°")
    print(f"figure {out}, numbers {out.with_suffix('.csv')}")


if __name__ == "__main__":
    main()
