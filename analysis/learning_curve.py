"""Learning curves: test (and running train) accuracy per epoch, from run files.

    python analysis/learning_curve.py RUN.h5 [RUN2.h5 ...] [--out learning_curve.png]
                                      [--x epoch|seconds]

``--x seconds`` plots the test accuracy against the training time that produced it (the
run file's ``train_seconds``, summed over the epochs; a log axis): time to accuracy.

Writes the figure (PNG) and, beside it, the numbers (CSV: run, epoch, train_accuracy,
test_accuracy, train_seconds). Reads run files only (:func:`eqspike.runfile.read_run`).
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path


def learning_curves(paths):
    """[(label, metrics dict)] for the run files ``paths`` (sidecars skipped, with a note)."""
    from eqspike.runfile import read_run, run_paths

    out = []
    paths, notes = run_paths(paths)
    for note in notes:
        print(note, file=sys.stderr)
    for path in paths:
        run = read_run(path)
        out.append((run_label(Path(path).stem, str(run.attrs["network"])), run.metrics))
    return out


def point_settings(point: str) -> str:
    """A sweep point's name without its number and seed, its settings comma-separated:
    ``p002-coupling=asymmetric-decay=1e-05-seed1`` -> ``coupling=asymmetric, decay=1e-05``."""
    settings = re.sub(r"-seed\d+$", "", re.sub(r"^p\d+-", "", point))
    return ", ".join(re.split(r"-(?=[A-Za-z_.]+=)", settings))


def run_label(stem: str, network: str) -> str:
    """A run's label: a sweep point's network and settings (``mnist-long: decay=0.0``),
    else the file's name and its network."""
    if "@" in network:
        base, point = network.split("@", 1)
        return f"{base}: {point_settings(point)}"
    return f"{stem} ({network})"


def plot(curves, out_png, x: str = "epoch"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401  (matplotlib.ticker below)
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.4 if len(curves) < 4 else 8.0, 4.2 + 0.3 * len(curves)))
    for label, m in curves:
        if x == "seconds":
            ax.plot(np.cumsum(m["train_seconds"]), 100 * m["test_accuracy"], "o-",
                    label=f"{label}: test")
            continue
        line, = ax.plot(m["epoch"], 100 * m["test_accuracy"], "o-", label=f"{label}: test")
        ax.plot(m["epoch"], 100 * m["train_accuracy"], "--", color=line.get_color(),
                alpha=0.6, label=f"{label}: train (running)")
    if x == "seconds":
        ax.set_xscale("log")
        ax.set_xlabel("training time (s, summed over the epochs; log scale)")
    else:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    if len(curves) < 4:
        ax.legend(fontsize=8)
    else:  # many curves: the legend below the axes, two columns
        ax.legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    ax.set_title("eqspike learning curves")
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    plt.close(fig)


def write_csv(curves, out_csv):
    with open(out_csv, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["run", "epoch", "train_accuracy", "test_accuracy", "train_seconds"])
        for label, m in curves:
            for row in zip(m["epoch"], m["train_accuracy"], m["test_accuracy"],
                           m["train_seconds"]):
                writer.writerow([label, int(row[0]), *(f"{v:.6g}" for v in row[1:])])


def main(argv=None):
    from eqspike.runfile import RunFileError

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--out", default="learning_curve.png")
    parser.add_argument("--x", choices=("epoch", "seconds"), default="epoch",
                        help="the x axis: epochs, or the training seconds (time to accuracy)")
    args = parser.parse_args(argv)
    try:
        curves = learning_curves(args.runs)
    except RunFileError as exc:
        print(f"learning_curve: error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    plot(curves, out, args.x)
    write_csv(curves, out.with_suffix(".csv"))
    for label, m in curves:
        accs = ", ".join(f"{100 * a:.2f}" for a in m["test_accuracy"])
        print(f"{label}: test accuracy per epoch (%): {accs}")
    print(f"wrote {out} and {out.with_suffix('.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
