"""Spiking against rate: the same weights and inputs in both paths.

    python analysis/spiking_vs_rate.py RUN.h5 [--samples 100] [--checkpoint NAME]
        [--spiking-network mnist] [--test-samples N] [--out spiking_vs_rate.png]

For the run file's weights (default: the last epoch's) and the first ``--samples`` test
images, it compares each neuron's spike rate over the readout window (the last
``readout_steps`` free steps, Brian2 runtime mode) with the rate model's state after the
same T1 free steps (:func:`eqspike.reference.network.spiking_twin`, same leak α = 1/tau_u).
Then, on the whole test set (or its first ``--test-samples`` images), it classifies every
image in both paths: the spiking free phase (compiled, ``cpp_standalone``) and the rate
network (a rate-reference run's own network and dynamics; for a spiking run, its rate
twin), and reports both accuracies and the fraction of images given the same class. A
rate-reference run's weights (dense edges, skip couplings included, with the hard sigmoid
and the squared-error nudge) run in the spiking network of ``--spiking-network`` (default
``networks/mnist.toml``) with the run's graph. Writes a scatter plot (PNG) and the
per-layer numbers (CSV beside it).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np


def spiking_rates(spec, weights, biases, rates):
    """Per-neuron spike rates over the readout window, per non-input layer (runtime mode);
    with the delta code, the mean over that window of the value each neuron has sent, ρ̂
    (its events carry changes, so ρ̂ is what its partners receive).

    The samples run as evaluation samples: T1 free steps, then idle steps that are ignored.
    """
    import brian2 as b2

    from eqspike.schedule import SAMPLE_EVAL
    from eqspike.spiking import build_network

    b2.set_device("runtime")
    b2.prefs.codegen.target = "numpy"
    n = len(rates)
    net = build_network(spec, n, rates=rates, kinds=np.full(n, SAMPLE_EVAL), weights=weights,
                        biases=biases, count_events=False)
    s, t1, window = spec.steps_per_sample, spec.phases.free_steps, spec.spiking.readout_steps
    delta = spec.spiking.code == "delta"
    monitors = [b2.StateMonitor(g, "rhohat", record=True, when="end") if delta
                else b2.SpikeMonitor(g) for g in net.layers[1:]]
    net.network.add(*monitors)
    net.network.run(net.duration_steps * spec.spiking.dt_ms * b2.ms, namespace={})
    if delta:
        steps = np.arange(n * s)
        in_window = (steps % s >= t1 - window) & (steps % s < t1)
        return [np.asarray(m.rhohat)[:, :n * s][:, in_window].T.reshape(n, window, -1)
                .mean(axis=1) for m in monitors]
    out = []
    for group, mon in zip(net.layers[1:], monitors):
        step = np.round(mon.t / (spec.spiking.dt_ms * b2.ms)).astype(int)
        in_window = (step % s >= t1 - window) & (step % s < t1)
        counts = np.zeros((n, len(group)))
        np.add.at(counts, (step[in_window] // s, mon.i[in_window]), 1)
        out.append(counts / window)
    return out


def rate_model(spec, weights, biases, rates):
    from eqspike.reference.network import spiking_twin

    model = spiking_twin(spec, weights, biases)
    return model.rates(model.relax(rates, model.zero_states(len(rates)), spec.phases.free_steps))


def spiking_spec_for(run, network: str = "mnist"):
    """The spiking network definition for a run's weights: its own (a spiking run), or
    ``network``'s dynamics with the run's graph (a rate-reference run whose couplings it can
    hold: dense edges, skip couplings included; the learning rates, which evaluation does
    not use, are the run's)."""
    from eqspike.spec import load_network

    spec = run.spec
    if run.attrs.get("path") != "rate":
        return spec
    if (any(e.kind != "dense" for e in spec.edges) or spec.network.activation != "hard_sigmoid"
            or spec.reference.loss != "mse"):
        raise ValueError(f"{run.path}: only a rate network of dense edges with the hard "
                         "sigmoid and the squared-error nudge has a spiking twin")
    return load_network(network).replace(
        network={"layers": spec.layers, "edges": list(spec.edges), "shapes": [],
                 "dataset": spec.network.dataset},
        learning={"rates": list(spec.learning.rates),
                  "bias_rates": list(spec.learning.bias_rates)})


def main(argv=None):
    from eqspike.data import load_dataset, rates_from_images
    from eqspike.runfile import RunFileError, read_run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--checkpoint")
    parser.add_argument("--data-dir")
    parser.add_argument("--out", default="spiking_vs_rate.png")
    parser.add_argument("--test-samples", type=int,
                        help="classify the first N test images in both paths (default: all)")
    parser.add_argument("--mode", choices=("standalone", "runtime"), default="standalone",
                        help="Brian2 device of the whole-set classification")
    parser.add_argument("--spiking-network", default="mnist",
                        help="for a rate-reference run: the spiking network whose dynamics "
                             "run its weights (default: mnist)")
    args = parser.parse_args(argv)
    try:
        run = read_run(args.run)
        spec = spiking_spec_for(run, args.spiking_network)
        if args.checkpoint and args.checkpoint not in run.checkpoints:
            raise RunFileError(f"{args.run}: no checkpoint {args.checkpoint!r}; valid: "
                               f"{', '.join(sorted(run.checkpoints))}")
    except (RunFileError, ValueError) as exc:
        print(f"spiking_vs_rate: error: {exc}", file=sys.stderr)
        return 2
    ckpt = run.checkpoints[args.checkpoint] if args.checkpoint else run.final
    test = load_dataset(spec.network.dataset, "test", args.data_dir)
    x_all = rates_from_images(test.images[:args.test_samples]).astype(float)
    x = x_all[:args.samples]

    spiking = spiking_rates(spec, ckpt.weights, ckpt.biases, x)
    rate = rate_model(spec, ckpt.weights, ckpt.biases, x)
    recorded = float(run.metrics["test_accuracy"][-1]) if len(run.metrics["epoch"]) else float("nan")
    from eqspike.engine import make_engine
    from eqspike.training.spiking import classify

    labels = test.labels[:args.test_samples].astype(int)
    engine = make_engine(spec, args.mode, spec.training.chunk_samples, free_only=True)
    spiking_classes, _ = classify(engine, ckpt.weights, ckpt.biases, x_all)
    if run.attrs.get("path") == "rate":   # the rate network as trained: its own dynamics
        from eqspike.reference.network import HopfieldNetwork

        model, steps = HopfieldNetwork(run.spec, ckpt.params), run.spec.phases.free_steps
    else:                                 # the spiking network's rate twin
        from eqspike.reference.network import spiking_twin

        model = spiking_twin(spec, ckpt.weights, ckpt.biases)
        steps = spec.phases.free_steps
    rate_classes = np.concatenate([model.predict(x_all[k:k + 1000], steps)
                                   for k in range(0, len(x_all), 1000)])
    spiking_accuracy = float(np.mean(spiking_classes == labels))
    rate_accuracy = float(np.mean(rate_classes == labels))
    agreement = float(np.mean(spiking_classes == rate_classes))
    trained = "rate reference" if run.attrs.get("path") == "rate" else "spiking network"

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(rate), figsize=(4.2 * len(rate), 4))
    rows = []
    for k, (ax, r_rate, r_spk) in enumerate(zip(np.atleast_1d(axes), rate, spiking), start=1):
        diff = np.abs(r_rate - r_spk)
        active = (r_rate > 0) | (r_spk > 0)
        rows.append([k, r_rate.shape[1], f"{diff.mean():.4f}", f"{diff[active].mean():.4f}",
                     f"{active.mean():.3f}", f"{r_rate.mean():.4f}",
                     f"{r_spk.mean():.4f}",
                     f"{np.corrcoef(r_rate.ravel(), r_spk.ravel())[0, 1]:.4f}"])
        ax.plot(r_rate.ravel(), r_spk.ravel(), ".", ms=2, alpha=0.3)
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        ax.set_xlabel("rate model ρ(u) after T1 steps")
        ax.set_ylabel(("sent value ρ̂" if spec.spiking.code == "delta" else "spike rate")
                      + f", last {spec.spiking.readout_steps} free steps")
        ax.set_title(f"layer {k}: mean |Δ| = {diff.mean():.3f}", fontsize=9)
    fig.suptitle(f"{Path(args.run).name} (trained by the {trained}): same weights; rates of "
                 f"{args.samples} test images. On all {len(labels)}: test accuracy spiking "
                 f"{100 * spiking_accuracy:.2f}%, rate model {100 * rate_accuracy:.2f}%, the "
                 f"same class in both on {100 * agreement:.2f}%", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    plt.close(fig)
    out_csv = Path(args.out).with_suffix(".csv")
    with open(out_csv, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["layer", "neurons", "mean_abs_rate_difference",
                         "mean_abs_difference_active", "fraction_active", "mean_rate_model",
                         "mean_rate_spiking", "correlation"])
        writer.writerows(rows)
        writer.writerow([])
        writer.writerow(["test_accuracy_spiking", spiking_accuracy])
        writer.writerow(["test_accuracy_rate_model_same_weights", rate_accuracy])
        writer.writerow(["same_class_both_paths", agreement])
        writer.writerow(["test_accuracy_recorded_by_the_run", recorded])
    for row in rows:
        print(f"layer {row[0]} ({row[1]} neurons): mean |rate model - spiking| = {row[2]}, "
              f"{row[3]} over the active entries ({row[4]} of all; either path > 0); mean "
              f"rates {row[5]} vs {row[6]}, correlation {row[7]}")
    print(f"weights trained by the {trained}; on all {len(labels)} test images: spiking "
          f"free phase {spiking_accuracy:.4f}, rate model {rate_accuracy:.4f} (the run file "
          f"recorded {recorded:.4f}); the same class in both paths on {100 * agreement:.2f}% "
          "of the images")
    print(f"wrote {args.out} and {out_csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
