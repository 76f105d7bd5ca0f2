"""The continual spiking rule against rate C-EP: weight trajectories during the nudged phases.

    python analysis/continual_vs_rate.py [--network mnist-continual] [--run RUN.h5]
        [--checkpoint NAME] [--samples 20] [--out continual_vs_rate.png]

On the same weights (the network's initial ones, or a run file's checkpoint) and the same
training samples (the first ``--samples`` of the training set, each starting from those
weights), it runs one training sample of the spiking network with ``[learning] rule =
"continual"`` (Brian2 runtime mode) and the same sample through rate C-EP
(:func:`eqspike.reference.learning.continual_phases` on
:func:`~eqspike.reference.network.spiking_twin`: the same layers, leak and its annealing
over the nudged phases, T1, T2, β, nudging and learning rates), and records every weight at every step of the nudged phases. A graded
input pair's weights are written once, at the sample's end (nothing in the sample reads them
before); its trajectory is the one per-step writes would have made, w + lr_w r_j H_i(t)
with the recorded running signal H_i(t) of the hidden neuron.

Prints, per layer pair, over all samples and synapses: for the change over the sample and
for the change at every nudged step, the sign agreement (entries where the rate change is
at least 10% of the largest), the Pearson correlation, and the least-squares ratio
spiking/rate; and the output error |y − ρ|₁ of both paths at the end of the free phase
(the changes scale with it). Writes a figure (W(t) of a few synapses in both paths, and
the per-sample changes of one path against the other) and the numbers (CSV beside it).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np


def spiking_trajectories(spec, weights, biases, rates, target):
    """One training sample of the spiking network: W(t) per layer pair over the nudged
    steps, (steps, n_pre, n_post), and the output error at the end of the free phase."""
    import brian2 as b2

    from eqspike.engine import RuntimeEngine
    from eqspike.rules import graded_edge
    from eqspike.spiking import build_network

    b2.set_device("runtime")
    b2.prefs.codegen.target = "numpy"
    net = build_network(spec, 1, rates=rates[None], targets=target[None], weights=weights,
                        biases=biases, count_events=False)
    engine = RuntimeEngine(spec, 1)
    engine.set_run_parameters(net)
    lr_w = engine.learning_rates()[0]
    monitors = []
    for k, syn in enumerate(net.synapses):
        if graded_edge(spec, k):   # the running signal H_i of the post neurons
            monitors.append(b2.StateMonitor(net.layers[spec.edges[k].post], "hebb_b", record=True,
                                            when="end"))
        else:
            monitors.append(b2.StateMonitor(syn, "w", record=True, when="end"))
    output = b2.StateMonitor(net.layers[-1], "u", record=True, when="end")
    net.network.add(*monitors, output)
    net.network.run(net.duration_steps * spec.spiking.dt_ms * b2.ms, namespace={})
    t1, s = spec.phases.free_steps, spec.steps_per_sample
    error = output_error(np.asarray(output.u)[:, t1 - 1], target)
    out = []
    for k, (mon, w0) in enumerate(zip(monitors, weights)):
        if graded_edge(spec, k):
            h = np.asarray(mon.hebb_b)[:, t1:s]                       # (n_post, steps)
            traj = w0[None] + lr_w[k] * rates[None, :, None] * h.T[:, None, :]
        else:
            traj = np.asarray(mon.w)[:, t1:s].T.reshape(s - t1, *w0.shape)
        out.append(traj)
    return out, error


def output_error(u_out, target) -> float:
    """|y − ρ(u)|₁ of the output layer: what the nudge acts on, so what the changes scale
    with (ρ the hard sigmoid, as everywhere in this network)."""
    return float(np.abs(target - np.clip(u_out, 0.0, 1.0)).sum())


def rate_trajectories(spec, weights, biases, rates, target):
    """The same sample through rate C-EP: W(t) per layer pair over the nudged steps, and
    the output error at the end of the free phase."""
    from eqspike.reference.learning import SGD, continual_phases
    from eqspike.reference.network import spiking_twin
    from eqspike.schedule import nudge_step_scale

    net = spiking_twin(spec, [w.copy() for w in weights], [b.copy() for b in biases])
    x, y = rates[None], target[None]
    free = net.relax(x, net.zero_states(1), spec.phases.free_steps)
    names = [f"W_{k}_{k + 1}" for k in range(len(weights))]
    lr = dict(zip(names, spec.learning.rates))
    lr.update({f"b_{k + 1}": r for k, r in enumerate(spec.learning.bias_rates)})
    steps = []
    t2 = spec.phases.nudge_steps
    scale = nudge_step_scale(spec)       # the spiking network's annealed step size
    continual_phases(net, SGD(), x, y, free, t2, spec.phases.beta,
                     "symmetric" if spec.nudged_phases == 2 else "one_sided", lr,
                     record=lambda sign, t, params: steps.append(
                         [params[n].copy() for n in names]), step_scale=scale)
    error = output_error(free[-1][0], target)
    return [np.stack([step[k] for step in steps]) for k in range(len(names))], error


def agreement(spiking, rate, threshold=0.1):
    """Sign agreement (where |rate| ≥ threshold · max|rate|), correlation, LS ratio."""
    spiking, rate = np.ravel(spiking), np.ravel(rate)
    big = np.abs(rate) >= threshold * np.abs(rate).max()
    return {"sign_agreement": float(np.mean(np.sign(spiking[big]) == np.sign(rate[big]))),
            "correlation": float(np.corrcoef(spiking, rate)[0, 1]),
            "ratio": float(np.sum(spiking * rate) / np.sum(rate * rate)),
            "entries": int(big.sum())}


def main(argv=None):
    from eqspike.data import load_dataset, rates_from_images
    from eqspike.runfile import read_run
    from eqspike.spec import load_network
    from eqspike.parameters import as_lists, init_parameters

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="mnist-continual")
    parser.add_argument("--run", help="take weights from this run file (its network too)")
    parser.add_argument("--checkpoint", help="checkpoint of --run (default: the last epoch)")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--data-dir")
    parser.add_argument("--out", default="continual_vs_rate.png")
    args = parser.parse_args(argv)

    if args.run:
        run = read_run(args.run)
        spec = run.spec
        point = run.checkpoints[args.checkpoint] if args.checkpoint else run.final
        weights, biases = point.weights, point.biases
    else:
        spec = load_network(args.network)
        weights, biases = as_lists(spec, init_parameters(spec, spec.training.seed))
    if spec.learning.rule != "continual":
        sys.exit(f"continual_vs_rate: {spec.name} uses [learning] rule = "
                 f"{spec.learning.rule!r}, not 'continual'")
    train = load_dataset(spec.network.dataset, "train", args.data_dir)
    images = rates_from_images(train.images[:args.samples])
    targets = np.eye(spec.layers[-1])[train.labels[:args.samples]]
    pairs = len(weights)
    per_step = {k: ([], []) for k in range(pairs)}
    totals = {k: ([], []) for k in range(pairs)}
    example = None
    errors = []
    for n in range(args.samples):
        spk, spk_error = spiking_trajectories(spec, weights, biases, images[n], targets[n])
        rte, rte_error = rate_trajectories(spec, weights, biases, images[n], targets[n])
        errors.append((spk_error, rte_error))
        for k in range(pairs):
            per_step[k][0].append(np.diff(np.concatenate([weights[k][None], spk[k]]), axis=0))
            per_step[k][1].append(np.diff(np.concatenate([weights[k][None], rte[k]]), axis=0))
            totals[k][0].append(spk[k][-1] - weights[k])
            totals[k][1].append(rte[k][-1] - weights[k])
        if example is None:
            example = (spk, rte)
        print(f"\r  sample {n + 1}/{args.samples}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)

    rows = []
    print(f"{spec.name}: {args.samples} samples, rule continual, partner "
          f"{spec.learning.partner}, {spec.phases.nudging} nudging, T2 = "
          f"{spec.phases.nudge_steps}")
    print(f"{'pair':>5s} {'what':>16s} {'sign agreement':>15s} {'correlation':>12s} "
          f"{'ratio':>8s} {'entries':>9s}")
    for k in range(pairs):
        for what, (a, b) in (("over the sample", totals[k]), ("per nudged step", per_step[k])):
            got = agreement(np.stack(a), np.stack(b))
            rows.append({"pair": f"{k}-{k + 1}", "what": what, **got})
            print(f"{k}-{k + 1:<3d} {what:>16s} {got['sign_agreement']:15.3f} "
                  f"{got['correlation']:12.3f} {got['ratio']:8.3f} {got['entries']:9d}")
    errors = np.array(errors)
    settled = errors[:, 1] < 1e-9
    print(f"output error |y - rho|_1 at the end of the free phase, mean over the samples: "
          f"spiking {errors[:, 0].mean():.4f}, rate {errors[:, 1].mean():.4f}; samples the "
          f"rate network has settled on the target: {settled.sum()}, of which the spiking "
          f"one is off by more than 0.01: {int(np.sum(settled & (errors[:, 0] > 0.01)))}")
    out = Path(args.out)
    with open(out.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot(example, weights, totals, spec, out)
    print(f"wrote {out} and {out.with_suffix('.csv')}")


def plot(example, weights, totals, spec, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spk, rte = example
    pairs = len(weights)
    fig, axes = plt.subplots(2, pairs, figsize=(5.2 * pairs, 7.5), squeeze=False)
    t2 = spec.phases.nudge_steps
    steps = np.arange(1, len(rte[0]) + 1)
    for k in range(pairs):
        ax = axes[0, k]
        change = rte[k][-1] - weights[k]
        chosen, rows_used, cols_used = [], set(), set()
        for index in np.argsort(np.abs(change).ravel())[::-1]:   # largest, distinct neurons
            i, j = np.unravel_index(index, change.shape)
            if i not in rows_used and j not in cols_used:
                chosen.append((i, j))
                rows_used.add(i)
                cols_used.add(j)
            if len(chosen) == 4:
                break
        for c, (i, j) in enumerate(chosen):
            colour = f"C{c}"
            ax.plot(steps, rte[k][:, i, j] - weights[k][i, j], "-", color=colour,
                    label=f"W[{i},{j}] rate C-EP")
            ax.plot(steps, spk[k][:, i, j] - weights[k][i, j], "o--", ms=3, color=colour,
                    label=f"W[{i},{j}] spiking")
        if spec.nudged_phases == 2:
            ax.axvline(t2 + 0.5, color="grey", lw=0.8)
            for x, label in ((t2 / 2 + 0.5, "−β phase"), (1.5 * t2 + 0.5, "+β phase")):
                ax.text(x, 0.02, label, ha="center", va="bottom", fontsize=8,
                        transform=ax.get_xaxis_transform())
        ax.set_xlabel("nudged step")
        ax.set_ylabel("W(t) − W(start)")
        ax.set_title(f"layer pair {k}-{k + 1}: 4 large changes (distinct neurons), sample 1",
                     fontsize=9)
        ax.legend(fontsize=6, ncol=2)
        ax.grid(alpha=0.3)
        ax = axes[1, k]
        a, b = np.stack(totals[k][0]).ravel(), np.stack(totals[k][1]).ravel()
        ax.plot(b, a, ".", ms=2, alpha=0.4)
        lim = np.abs(np.r_[a, b]).max()
        ax.plot([-lim, lim], [-lim, lim], "k-", lw=0.6)
        got = agreement(a, b)
        ax.ticklabel_format(style="sci", scilimits=(-2, 2))   # no overlapping tick labels
        ax.set_xlabel("rate C-EP: change over the sample")
        ax.set_ylabel("spiking continual rule: change over the sample")
        ax.set_title(f"pair {k}-{k + 1}, every synapse and sample: corr {got['correlation']:.2f}, "
                     f"ratio {got['ratio']:.2f}, signs {got['sign_agreement']:.2f}", fontsize=9)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{spec.name}: spiking continual rule against rate C-EP, same weights and "
                 f"samples", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
