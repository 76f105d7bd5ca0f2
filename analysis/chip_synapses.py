"""Accuracy against weight bits and against update noise, from sweeps of the default network.

    python analysis/chip_synapses.py FLOAT_RUN.h5 --bits BITS_SWEEP_DIR
                                     [--noise NOISE_SWEEP_DIR]
                                     [--update-sizes BITS_SWEEP_DIR [--samples N]]
                                     [--out chip_synapses.png]

``FLOAT_RUN.h5``: the float network the sweeps are measured against (``eqspike train``).
``--bits``: a sweep of ``sweeps/mnist-bits.toml`` (networks trained with weights of few bits,
every update rounded); for each of its (bits, rounding) points this also evaluates the
float run's last weights rounded to those bits after training (inference-only
quantization; the ranges the sweep used), on all the test images, in a free-phase-only
build. ``--update-sizes``: how many of the rule's per-image changes (over ``--samples``
training images, at the float run's initial and last weights) fall below half a level of
each number of bits of that sweep, which a deterministic rounding loses. ``--noise``: a
sweep of ``sweeps/mnist-noise.toml``. Writes one figure per study (``OUT`` with ``-bits``
and ``-noise`` before the suffix) and the numbers beside each (CSV; ``-update-sizes.csv``).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np


def sweep_rows(directory) -> list:
    """(values, final test accuracy, run file) of every complete point of a sweep."""
    from eqspike.sweep import read_index

    out = []
    for row in read_index(directory).values():
        if row["status"] == "complete":
            out.append((json.loads(row["values"]), float(row["final_test_accuracy"]),
                        Path(directory) / row["run_file"]))
    return out


def inference_only(float_run, bits: int, rounding: str, ranges, data_dir=None) -> float:
    """The float run's last weights rounded to ``bits`` (per edge ``ranges``), tested."""
    from eqspike.runfile import read_run
    from eqspike.training.spiking import SpikingTrainer

    run = read_run(float_run)
    point = run.final
    point.params = _rounded(point.params, run.spec, bits, rounding, ranges,
                            np.random.default_rng(0))
    accuracy, _ = SpikingTrainer.evaluate_checkpoint(run.spec, point, seed=1,
                                                     data_dir=data_dir, progress=False)
    return accuracy


def _rounded(params: dict, spec, bits, rounding, ranges, rng) -> dict:
    from eqspike.synapses import quantize

    by_edge = {f"W_{e.pre}_{e.post}": r for e, r in zip(spec.edges, ranges)}
    return {name: quantize(v, bits, by_edge[name], rounding, rng) if name in by_edge else v
            for name, v in params.items()}


def bits_study(float_run, directory, out_png, data_dir=None) -> list:
    from eqspike.figures import subplots
    from eqspike.runfile import read_run
    from eqspike.synapses import edge_ranges

    float_acc = float(read_run(float_run).metrics["test_accuracy"][-1])
    rows = []
    for values, accuracy, run_file in sweep_rows(directory):
        spec = read_run(run_file).spec
        bits, rounding = values["synapses.weight_bits"], values["synapses.rounding"]
        ranges = edge_ranges(spec)
        rows.append({"bits": bits, "rounding": rounding, "trained": accuracy,
                     "inference_only": inference_only(float_run, bits, rounding, ranges,
                                                      data_dir),
                     "ranges": " ".join(map(str, ranges))})
    rows.sort(key=lambda r: (-r["bits"], r["rounding"]))
    fig, ax = subplots(figsize=(7.2, 4.6))
    for rounding, marker in (("deterministic", "o"), ("stochastic", "s")):
        mine = [r for r in rows if r["rounding"] == rounding]
        ax.plot([r["bits"] for r in mine], [100 * r["trained"] for r in mine], marker + "-",
                label=f"trained with {rounding} rounding")
        ax.plot([r["bits"] for r in mine], [100 * r["inference_only"] for r in mine],
                marker + "--", alpha=0.7, label=f"float-trained, {rounding} rounding after")
    ax.axhline(100 * float_acc, color="k", lw=1, ls=":", label=f"float ({100 * float_acc:.2f}%)")
    ax.set_xlabel("weight bits (signed; 2: -R, 0, +R)")
    ax.set_ylabel("test accuracy (%), 10,000 images")
    ax.set_xticks(sorted({r["bits"] for r in rows}))
    _finish(fig, ax, "default network (784-500-10), one epoch: accuracy against weight bits",
            out_png)
    return rows


def update_sizes(float_run, directory, samples: int, data_dir=None) -> list:
    """How many of the rule's per-sample weight changes a deterministic rounding loses.

    The float run's network trains on ``samples`` training images one at a time (one
    update per image, as in training), from its initial and from its last weights, at its
    first learning rates (the epoch's start; they halve over the epoch). A change smaller
    than half a level, |Δw| < δ/2 with δ = R / (2^(b−1) − 1), leaves a weight on the grid
    where it was. Returns per checkpoint, edge and bits of the sweep ``directory`` (its
    ranges R): the fraction of the non-zero changes below δ/2 and their median size.
    """
    from eqspike.data import PixelRates, load_dataset
    from eqspike.engine import make_engine
    from eqspike.runfile import read_run
    from eqspike.schedule import SAMPLE_TRAIN
    from eqspike.synapses import edge_ranges, level_step

    run = read_run(float_run)
    spec = run.spec
    bits_specs = {v["synapses.weight_bits"]: read_run(f).spec
                  for v, _, f in sweep_rows(directory)}
    train = load_dataset(spec.network.dataset, "train", data_dir)
    rates = PixelRates(train.images[:samples])
    targets = np.eye(spec.layers[-1])[train.labels[:samples]]
    engine = make_engine(spec, "standalone", 1)
    rows = []
    for name in ("initial", run.final_name):
        point = run.checkpoint(name)
        changes = [[] for _ in spec.edges]
        for i in range(samples):
            result = engine.run_chunk(rates[i:i + 1], targets[i:i + 1],
                                      np.array([SAMPLE_TRAIN]), point.weights, point.biases)
            for k, (after, before) in enumerate(zip(result.weights, point.weights)):
                dw = np.abs(np.ravel(after - before))
                changes[k].append(dw[dw > 0])
        for k, edge in enumerate(spec.edges):
            dw = np.concatenate(changes[k])
            for bits, bits_spec in sorted(bits_specs.items(), reverse=True):
                half = level_step(bits, edge_ranges(bits_spec)[k]) / 2
                rows.append({"checkpoint": name, "edge": f"W_{edge.pre}_{edge.post}",
                             "bits": bits, "half_level": half,
                             "median_change": float(np.median(dw)),
                             "below_half_level": float(np.mean(dw < half))})
    return rows


def noise_study(float_run, directory, out_png) -> list:
    import matplotlib.ticker

    from eqspike.figures import subplots
    from eqspike.runfile import read_run

    float_acc = float(read_run(float_run).metrics["test_accuracy"][-1])
    rows = [{"update_noise": v["synapses.update_noise"],
             "device_noise": v["synapses.device_noise"], "trained": acc}
            for v, acc, _ in sweep_rows(directory)]
    fig, ax = subplots(figsize=(7.2, 4.6))
    for kind, label in (("update_noise", "cycle-to-cycle (each update)"),
                        ("device_noise", "device-to-device (each weight)")):
        mine = sorted([r for r in rows if r[kind] > 0], key=lambda r: r[kind])
        ax.plot([0] + [r[kind] for r in mine], [100 * float_acc] + [100 * r["trained"]
                                                                    for r in mine],
                "o-", label=label)
    lowest = min([float_acc] + [r["trained"] for r in rows])
    # at least 3 points of accuracy on the axis, so that a 0.1-point wobble looks like one
    ax.set_ylim(min(100 * lowest - 0.5, 100 * float_acc - 3), 100 * float_acc + 1)
    ax.axhline(100 * float_acc, color="k", ls=":", lw=1,
               label=f"no noise ({100 * float_acc:.2f}%)")
    # the sweep's own levels as ticks, 0 (the float run) included
    levels = sorted({0.0} | {r[kind] for r in rows
                             for kind in ("update_noise", "device_noise")})
    ax.set_xscale("symlog", linthresh=min([v for v in levels if v > 0] or [1.0]))
    ax.set_xticks(levels)
    ax.set_xticklabels([f"{v:g}" for v in levels])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel("relative spread of the update (σ): each update times 1 + σ N(0, 1)")
    ax.set_ylabel("test accuracy (%), 10,000 images")
    _finish(fig, ax, "default network (784-500-10), one epoch: accuracy against update noise",
            out_png)
    return rows


def _finish(fig, ax, title, out_png):
    """The figures' common ending: title, grid, legend, saved as a PNG."""
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)


def _write(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("float_run")
    parser.add_argument("--bits")
    parser.add_argument("--noise")
    parser.add_argument("--update-sizes", metavar="BITS_SWEEP_DIR",
                        help="how many of the rule's changes over --samples training images "
                             "(one at a time) a deterministic rounding would lose")
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--out", default="chip_synapses.png")
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.bits:
        png = out.with_name(out.stem + "-bits.png")
        rows = bits_study(args.float_run, args.bits, png, args.data_dir)
        _write(png.with_suffix(".csv"), rows)
        print(f"{'bits':>4s} {'rounding':14s} {'trained':>8s} {'inference only':>15s}")
        for r in rows:
            print(f"{r['bits']:4d} {r['rounding']:14s} {100 * r['trained']:7.2f}% "
                  f"{100 * r['inference_only']:14.2f}%")
        print(f"figure {png}, numbers {png.with_suffix('.csv')}")
    if args.update_sizes:
        rows = update_sizes(args.float_run, args.update_sizes, args.samples, args.data_dir)
        path = out.with_name(out.stem + "-update-sizes.csv")
        _write(path, rows)
        for r in rows:
            print(f"{r['checkpoint']:>11s} weights, {r['edge']}, {r['bits']} bits: "
                  f"{100 * r['below_half_level']:5.1f}% of the changes below half a level "
                  f"({r['half_level']:.2e}; median change {r['median_change']:.2e})")
        print(f"numbers {path}")
    if args.noise:
        png = out.with_name(out.stem + "-noise.png")
        rows = noise_study(args.float_run, args.noise, png)
        _write(png.with_suffix(".csv"), rows)
        for r in rows:
            print(f"update noise {r['update_noise']:.2f}, device noise {r['device_noise']:.2f}: "
                  f"{100 * r['trained']:.2f}%")
        print(f"figure {png}, numbers {png.with_suffix('.csv')}")


if __name__ == "__main__":
    main()
