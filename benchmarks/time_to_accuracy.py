"""Benchmark: time to accuracy of spiking training (a script, not a test).

Trains a network from scratch with ``eqspike.training.train`` (what ``eqspike train`` runs)
and, at fixed points (``--points``, in training samples, then at every epoch's end), records
the wall-clock training seconds so far and the accuracy on the test set (all 10,000 images
by default). Evaluation runs after training, on weights snapshotted at each point, so it is
reported apart and never counted as training; the compile is reported apart too. Prints a
table, writes ``time_to_accuracy.csv`` and ``time_to_accuracy.png`` (test accuracy against
training seconds).

Compare mode runs two configurations alternately (A B A B …, ``--repeats``) on the same
machine and prints the ratio of their times to reach each accuracy of ``--targets``:

    python benchmarks/time_to_accuracy.py [--network mnist] [--epochs 3]
    python benchmarks/time_to_accuracy.py --network mnist --compare mnist-483c5c1
    python benchmarks/time_to_accuracy.py --network mnist --against-commit 483c5c1 [--network-b mnist]

``--against-commit REV`` installs eqspike at git revision REV into a virtual environment of
its own (cached in ``~/.cache/eqspike/bench-venvs/REV``) and runs B there, so the working
tree is measured against another version of the code. Each configuration runs in a child
process (``--worker``), which uses only the API that both versions share: ``train``,
``make_engine`` (wrapped to take the snapshots and to time the chunks), ``evaluate``.

How a point's training time is measured: from the start of the first training chunk (the
engine is built and compiled before it), to the end of the chunk that reaches the point,
less the time of ``train``'s own end-of-epoch evaluation (given one test image, it still
runs a chunk) and of the snapshots. The per-chunk checkpoint writes are training work and
are counted.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POINTS = (5000, 10000, 20000, 40000)
DEFAULT_TARGETS = (96.0, 96.5, 97.0, 97.5)


# -- the worker: one training run from scratch, in whatever eqspike this interpreter has ----

def worker(network: str, epochs: int, points, test_samples, data_dir, out: Path) -> None:
    """Train ``network`` for ``epochs``; write the points (JSON) to ``out``."""
    import eqspike
    from eqspike import training
    from eqspike.data import load_dataset, rates_from_images
    from eqspike.spec import load_network
    from eqspike.schedule import SAMPLE_TRAIN

    spec = load_network(network)
    spec = spec.replace(training={"epochs": epochs})
    n_train = spec.training.train_samples
    marks = sorted({p for p in points if p < n_train * epochs}
                   | {n_train * e for e in range(1, epochs + 1)})
    record = {"network": network, "eqspike": getattr(eqspike, "__version__", "?"),
              "source": str(Path(eqspike.__file__).resolve().parent.parent),
              "layers": list(spec.layers), "steps_per_sample": spec.steps_per_sample,
              "points": []}
    state = {"seen": 0, "t0": None, "excluded": 0.0, "snapshots": []}
    # where train() finds the engine factory: eqspike.training (0.1) or its spiking trainer
    if hasattr(training, "__path__"):
        import importlib

        engines = importlib.import_module("eqspike.training.spiking")
    else:
        engines = training
    make_engine = engines.make_engine

    def timed_engine(*args, **kwargs):
        t = time.perf_counter()
        engine = make_engine(*args, **kwargs)
        record["build_seconds"] = time.perf_counter() - t
        run_chunk = engine.run_chunk

        def run(rates, targets, kinds, weights, biases, *rest, **kw):
            training_chunk = bool(np.all(np.asarray(kinds) == SAMPLE_TRAIN))
            t_start = time.perf_counter()
            if state["t0"] is None:
                state["t0"] = t_start
            result = run_chunk(rates, targets, kinds, weights, biases, *rest, **kw)
            t_end = time.perf_counter()
            if not training_chunk:
                state["excluded"] += t_end - t_start
                return result
            state["seen"] += len(kinds)
            passed = [m for m in marks if m <= state["seen"]]
            if passed:  # a point at or just after each mark (chunks may straddle one)
                del marks[:len(passed)]
                seconds = t_end - state["t0"] - state["excluded"]
                state["snapshots"].append((state["seen"], seconds,
                                           [w.copy() for w in result.weights],
                                           [b.copy() for b in result.biases]))
                state["excluded"] += time.perf_counter() - t_end
            return result

        engine.run_chunk = run
        state["engine"] = engine
        return engine

    engines.make_engine = timed_engine
    with tempfile.TemporaryDirectory() as tmp:
        t_all = time.perf_counter()
        training.train(spec, Path(tmp) / "run.h5", data_dir=data_dir, test_samples=1,
                       progress=False)
        record["train_call_seconds"] = time.perf_counter() - t_all
    test = load_dataset(spec.network.dataset, "test", data_dir)
    n_test = len(test.labels) if test_samples is None else min(test_samples, len(test.labels))
    rates = rates_from_images(test.images[:n_test])
    labels = test.labels[:n_test].astype(int)
    for seen, seconds, weights, biases in state["snapshots"]:
        t = time.perf_counter()
        accuracy, _ = training.evaluate(state["engine"], weights, biases, rates, labels)
        record["points"].append({"samples": seen, "train_seconds": seconds,
                                 "test_accuracy": 100.0 * accuracy, "test_images": n_test,
                                 "eval_seconds": time.perf_counter() - t})
        print(f"  [{network}] {seen:7d} samples  {seconds:8.1f} s  {100 * accuracy:6.2f}%",
              file=sys.stderr, flush=True)
    out.write_text(json.dumps(record))


# -- the driver ---------------------------------------------------------------------------

def commit_python(rev: str) -> tuple[str, str]:
    """A Python with eqspike at git revision ``rev`` installed (editable, so that its
    ``networks/`` folder is found), in a cached virtual environment. Returns (python, sha)."""
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", rev], check=True,
                         capture_output=True, text=True).stdout.strip()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    home = cache / "eqspike" / "bench-venvs" / sha[:12]
    python = home / "venv" / "bin" / "python"
    if not (home / "ready").exists():
        print(f"installing eqspike {sha[:12]} into {home} ...", file=sys.stderr, flush=True)
        home.mkdir(parents=True, exist_ok=True)
        tree = home / "src"
        if not tree.exists():
            tree.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", sha],
                                     check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        subprocess.run([sys.executable, "-m", "venv", str(home / "venv")], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", str(tree)],
                       check=True)
        (home / "ready").touch()
    return str(python), sha[:12]


def run_worker(python: str, network: str, args, label: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "points.json"
        if Path(network).is_file():
            network = str(Path(network).resolve())
        cmd = [python, str(Path(__file__).resolve()), "--worker", "--network", network,
               "--epochs", str(args.epochs), "--points", ",".join(map(str, args.points)),
               "--json", str(out)]
        if args.test_samples:
            cmd += ["--test-samples", str(args.test_samples)]
        # the worker runs in a temporary directory: relative paths are resolved here
        data_dir = args.data_dir or os.environ.get("EQSPIKE_DATA")
        if data_dir:
            cmd += ["--data-dir", str(Path(data_dir).resolve())]
        print(f"-- {label}: {network} ({python})", file=sys.stderr, flush=True)
        t = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=tempfile.gettempdir())
        record = json.loads(out.read_text())
    record["label"], record["wall_seconds"] = label, time.perf_counter() - t
    return record


def time_to(record: dict, target: float):
    """Training seconds of the first point at or above ``target`` percent, or None."""
    for p in record["points"]:
        if p["test_accuracy"] >= target:
            return p["train_seconds"]
    return None


def print_table(record: dict) -> None:
    print(f"\n{record['label']}: {record['network']} ({record['source']}), "
          f"{'-'.join(map(str, record['layers']))}, {record['steps_per_sample']} steps per "
          f"training sample; build {record['build_seconds']:.1f} s")
    print(f"{'samples':>8s} {'train s':>9s} {'ms/sample':>10s} {'test %':>7s} {'images':>7s} "
          f"{'eval s':>7s}")
    for p in record["points"]:
        print(f"{p['samples']:8d} {p['train_seconds']:9.1f} "
              f"{1e3 * p['train_seconds'] / p['samples']:10.2f} {p['test_accuracy']:7.2f} "
              f"{p['test_images']:7d} {p['eval_seconds']:7.1f}")


def write_outputs(records: list, out: Path, targets) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "time_to_accuracy.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["label", "repeat", "network", "samples", "train_seconds",
                         "test_accuracy", "test_images", "eval_seconds", "build_seconds"])
        for r in records:
            for p in r["points"]:
                writer.writerow([r["label"], r["repeat"], r["network"], p["samples"],
                                 f"{p['train_seconds']:.3f}", f"{p['test_accuracy']:.2f}",
                                 p["test_images"], f"{p['eval_seconds']:.3f}",
                                 f"{r['build_seconds']:.2f}"])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401  (matplotlib.ticker.FuncFormatter below)

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    colours = {}
    for r in records:
        colour = colours.setdefault(r["label"], f"C{len(colours)}")
        x = [p["train_seconds"] for p in r["points"]]
        y = [p["test_accuracy"] for p in r["points"]]
        ax.plot(x, y, "o-", color=colour, alpha=1.0 if r["repeat"] == 0 else 0.5,
                label=f"{r['label']}: {r['network']}" if r["repeat"] == 0 else None)
        for p in r["points"]:
            if r["repeat"] == 0:
                ax.annotate(f"{p['samples'] // 1000}k", (p["train_seconds"], p["test_accuracy"]),
                            textcoords="offset points", xytext=(3, -10), fontsize=7,
                            color=colour)
    for target in targets:
        ax.axhline(target, color="grey", lw=0.6, ls=":")
        ax.annotate(f"{target:g}%", (0, target), xycoords=("axes fraction", "data"),
                    xytext=(2, 1), textcoords="offset points", fontsize=7, color="grey")
    ax.set_xscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    some = matplotlib.ticker.FuncFormatter(                 # minor labels at 2 and 5 only
        lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else "")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(some)
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel("training time (s, wall clock; compile and evaluation excluded)")
    ax.set_ylabel("test accuracy (%)")
    low = min(min(p["test_accuracy"] for p in r["points"]) for r in records)
    ax.set_ylim(min(low - 1.0, 95.0), 100.0)
    ax.set_title("Time to accuracy (labels: training samples seen)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "time_to_accuracy.png", dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="mnist", help="configuration A (default: mnist)")
    parser.add_argument("--compare", metavar="NETWORK_B",
                        help="configuration B, run in this tree")
    parser.add_argument("--against-commit", metavar="REV",
                        help="run B with eqspike at git revision REV (its own venv)")
    parser.add_argument("--network-b", help="B's network with --against-commit "
                        "(default: the same name as A)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--points", default=",".join(map(str, DEFAULT_POINTS)),
                        help="training samples at which to evaluate, besides every epoch's end")
    parser.add_argument("--targets", default=",".join(map(str, DEFAULT_TARGETS)),
                        help="accuracies (%%) whose time-to-reach the compare mode reports")
    parser.add_argument("--repeats", type=int, default=1, help="A B rounds (compare mode)")
    parser.add_argument("--test-samples", type=int, help="test images (default: all)")
    parser.add_argument("--data-dir")
    parser.add_argument("--out", default="time_to_accuracy", help="output folder")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.points = [int(p) for p in args.points.split(",") if p]
    targets = [float(t) for t in args.targets.split(",") if t]
    if args.worker:
        worker(args.network, args.epochs, args.points, args.test_samples, args.data_dir,
               Path(args.json))
        return

    configs = [("A", sys.executable, args.network)]
    if args.compare:
        configs.append(("B", sys.executable, args.compare))
    elif args.against_commit:
        python, sha = commit_python(args.against_commit)
        configs.append((f"B@{sha}", python, args.network_b or args.network))
    records = []
    for repeat in range(args.repeats if len(configs) > 1 else 1):
        for label, python, network in configs:
            record = run_worker(python, network, args, label)
            record["repeat"] = repeat
            records.append(record)
            print_table(record)
    write_outputs(records, Path(args.out), targets)
    if len(configs) == 1:
        print("\ntime to reach each accuracy (training seconds)")
        for target in targets:
            seconds = time_to(records[0], target)
            print(f"{target:8.1f}% {'not reached' if seconds is None else f'{seconds:.1f} s'}")
    if len(configs) > 1:
        a_label, b_label = configs[0][0], configs[1][0]
        print(f"\ntime to reach each accuracy, median over {args.repeats} round(s) "
              f"(training seconds; ratio B/A > 1: A is faster)")
        print(f"{'target %':>8s} {a_label:>10s} {b_label:>14s} {'B/A':>8s}")
        for target in targets:
            times = {}
            for label in (a_label, b_label):
                got = [time_to(r, target) for r in records if r["label"] == label]
                times[label] = None if None in got else float(np.median(got))
            a, b = times[a_label], times[b_label]
            ratio = f"{b / a:8.2f}" if a and b else "       –"
            fmt = lambda v: f"{v:.1f}" if v is not None else "not reached"  # noqa: E731
            print(f"{target:8.1f} {fmt(a):>10s} {fmt(b):>14s} {ratio}")
    print(f"\nwrote {Path(args.out) / 'time_to_accuracy.csv'} and "
          f"{Path(args.out) / 'time_to_accuracy.png'}")


if __name__ == "__main__":
    main()
