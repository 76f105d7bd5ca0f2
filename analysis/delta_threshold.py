"""Accuracy against events: the delta code's thresholds, from run files (a sweep's points).

    python analysis/delta_threshold.py RUN.h5 [RUN2.h5 ...] [--out delta_threshold.png]
                                       [--evaluate]

For each run file (the last epoch's counts): the synaptic events per training sample and
per inference (:func:`eqspike.energy.spiking_counts`: every event times its fan-out, both
directions, all edges), the test accuracy and the code's settings (θ free / θ nudged /
end-of-phase events, or the binary rate code). A rate-coded run among them is the
reference the delta runs are measured against. ``--evaluate``: each run's last checkpoint
is evaluated again on all the test images (a sweep's probes may have used fewer), and that
accuracy is the one shown. Writes the figure (PNG: test accuracy
against synaptic events per training sample, log axis, each point labelled) and, beside
it, the numbers (CSV). Reads run files only.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path


def label(spec) -> str:
    """The code's settings, e.g. ``θ 1/16 / 1/64, flush`` or ``rate code (sigma_delta)``."""
    sp = spec.spiking
    if sp.code != "delta":
        return f"rate code ({sp.code})"

    def frac(x):
        return "0" if x == 0 else (f"1/{round(1 / x)}" if abs(1 / x - round(1 / x)) < 1e-9
                                   else f"{x:g}")

    return (f"θ {frac(sp.delta_theta)} / {frac(sp.delta_theta_nudged)}"
            + (", flush" if sp.delta_flush else ""))


def rows(paths, evaluate: bool = False, data_dir=None) -> list:
    """One dict per run file: label, accuracy, test images, events per training sample and
    per inference, training seconds per sample (``evaluate``: the accuracy on all the
    test images, evaluated again)."""
    from eqspike.energy import spiking_counts
    from eqspike.runfile import read_run, run_paths
    from eqspike.training import evaluate_run

    paths, notes = run_paths(paths)
    for note in notes:
        print(note, file=sys.stderr)
    out = []
    for path in paths:
        run = read_run(path)
        if not len(run.metrics["epoch"]):
            print(f"skipping {path}: no finished epoch", file=sys.stderr)
            continue
        spec = run.spec
        train = spiking_counts(spec, run.events["train_mean"][-1], "training")
        test = spiking_counts(spec, run.events["eval_mean"][-1], "inference")
        samples = int(run.metrics["train_samples"].sum())
        accuracy = float(run.metrics["test_accuracy"][-1])
        images = int(run.metrics["test_images"][-1])
        if evaluate:
            accuracy, images, _, _ = evaluate_run(path, data_dir=data_dir, progress=False)
        out.append({"run": Path(path).stem, "code": label(spec),
                    "test_accuracy": accuracy, "test_images": images,
                    "events_per_training_sample": float(train["synaptic_events"].sum()),
                    "events_per_inference": float(test["synaptic_events"].sum()),
                    "neuron_events_per_training_sample": float(train["spikes"][1:].sum()),
                    "ms_per_training_sample": 1e3 * float(run.metrics["train_seconds"].sum())
                    / samples})
    return out


def plot(table, out_png) -> None:
    from eqspike.figures import subplots

    fig, ax = subplots(figsize=(7.2, 4.6))
    for row in table:
        rate = row["code"].startswith("rate")
        ax.plot(row["events_per_training_sample"], 100 * row["test_accuracy"],
                "s" if rate else "o", color="tab:red" if rate else "tab:blue", ms=7)
        ax.annotate(row["code"], (row["events_per_training_sample"], 100 * row["test_accuracy"]),
                    textcoords="offset points", xytext=(5, 4), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("synaptic events per training sample (all edges, both directions; log)")
    ax.set_ylabel(f"test accuracy (%), {table[0]['test_images']} images")
    ax.set_title("delta code: accuracy against events (blue), the rate code (red square)",
                 fontsize=10)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--out", default="delta_threshold.png")
    parser.add_argument("--evaluate", action="store_true",
                        help="evaluate every run again on all the test images")
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)
    table = rows(args.runs, args.evaluate, args.data_dir)
    if not table:
        sys.exit("no run file with a finished epoch")
    out = Path(args.out)
    plot(table, out)
    with open(out.with_suffix(".csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    width = max(len(r["code"]) for r in table)
    print(f"{'code':{width}s} {'accuracy':>9s} {'events/train':>13s} {'events/infer':>13s} "
          f"{'ms/sample':>10s}")
    for r in sorted(table, key=lambda r: r["events_per_training_sample"]):
        print(f"{r['code']:{width}s} {100 * r['test_accuracy']:8.2f}% "
              f"{r['events_per_training_sample']:13.4g} {r['events_per_inference']:13.4g} "
              f"{r['ms_per_training_sample']:10.3f}")
    print(f"figure {out}, numbers {out.with_suffix('.csv')}")


if __name__ == "__main__":
    main()
