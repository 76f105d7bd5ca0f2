"""Benchmark: a sweep on a Dask LocalCluster against the same points one after another.

Runs every point of a sweep file (default ``sweeps/mnist-eta-beta.toml``: 8 points of 5,000
MNIST training samples) twice, each time from scratch into a directory of its own:

(a) one after another in this process (:func:`eqspike.sweep.run_point` in a loop);
(b) ``eqspike sweep`` on a LocalCluster of ``--workers`` processes (default 2).

Each mode runs once untimed first (``--no-warm`` skips it), so that both find the compiled
builds they use (the cluster's second worker needs a second build slot); then (a) and (b)
are timed ``--repeats`` times, alternating. Prints both wall times, their ratio, and whether
every point's run file has the same weights in both modes (whichever worker ran it).

    python benchmarks/bench_sweep.py [--sweep sweeps/mnist-eta-beta.toml] [--workers 2]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def sequential(sweep_path, out: Path, data_dir) -> float:
    from eqspike.sweep import load_sweep, run_point

    sweep = load_sweep(sweep_path)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    for point in sweep.points():
        run_point(sweep.text, sweep.name, point, str(out / "runs" / f"{point.name}.h5"),
                  data_dir)
    return time.perf_counter() - t


def parallel(sweep_path, out: Path, data_dir, workers: int) -> float:
    from eqspike.sweep import run_sweep

    t = time.perf_counter()
    rows = run_sweep(sweep_path, out, workers=workers, data_dir=data_dir, progress=False)
    elapsed = time.perf_counter() - t
    failed = [r["point"] for r in rows.values() if r["status"] != "complete"]
    if failed:
        sys.exit(f"bench_sweep: points failed: {failed}")
    return elapsed


def main(argv=None):
    from eqspike.runfile import read_run
    from eqspike.sweep import load_sweep

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", default=str(ROOT / "sweeps" / "mnist-eta-beta.toml"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-warm", action="store_true")
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)
    points = load_sweep(args.sweep).points()
    times = {"sequential": [], "dask": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if not args.no_warm:
            print("warming the build caches (untimed) ...", file=sys.stderr, flush=True)
            parallel(args.sweep, tmp / "warm", args.data_dir, args.workers)
            shutil.rmtree(tmp / "warm")
        for repeat in range(args.repeats):
            for mode in ("sequential", "dask"):
                out = tmp / f"{mode}-{repeat}"
                t = (sequential(args.sweep, out, args.data_dir) if mode == "sequential"
                     else parallel(args.sweep, out, args.data_dir, args.workers))
                times[mode].append(t)
                print(f"  round {repeat + 1}: {mode:10s} {t:7.1f} s", file=sys.stderr,
                      flush=True)
        same = True
        for point in points:
            a = read_run(tmp / "sequential-0" / "runs" / f"{point.name}.h5").final
            b = read_run(tmp / "dask-0" / "runs" / f"{point.name}.h5").final
            same &= all(np.array_equal(x, y) for x, y in zip(a.weights + a.biases,
                                                            b.weights + b.biases))
    seq, par = np.median(times["sequential"]), np.median(times["dask"])
    print(f"\n{len(points)} points of {args.sweep}")
    print(f"one after another, one process: {seq:7.1f} s")
    print(f"Dask LocalCluster, {args.workers} workers: {par:7.1f} s")
    print(f"speed-up: {seq / par:.2f}x (median of {args.repeats} alternating round(s))")
    print(f"identical weights in both modes for every point: {same}")


if __name__ == "__main__":
    main()
