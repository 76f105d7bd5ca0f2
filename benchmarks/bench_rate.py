"""Benchmark: seconds per training epoch of the rate reference (a script, not a test).

Trains ``--network`` (default ``mnist-rate``: 784-512-10, T1 = 30, T2 = 10, batch 50,
symmetric EP, i.e. three relaxations per batch) on ``--train-samples`` images for one epoch
and prints the wall-clock seconds, samples per second and the test accuracy after it. Run it
on an idle machine; BLAS uses every core it finds.

    python benchmarks/bench_rate.py [--network mnist-rate] [--train-samples 60000]
                                    [--precision float32]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None):
    from eqspike.reference import HopfieldNetwork, init_params
    from eqspike.reference.learning import learning_rates, make_optimizer, train_batch
    from eqspike.training.rate import evaluate_rate, load_xy
    from eqspike.spec import load_network

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="mnist-rate")
    parser.add_argument("--train-samples", type=int, default=60000)
    parser.add_argument("--precision", choices=["float64", "float32"],
                        help="override [reference] precision")
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)
    spec = load_network(args.network)
    if args.precision:
        spec = spec.replace(reference={"precision": args.precision})
    x, labels = load_xy(spec, "train", args.data_dir, True, args.train_samples)
    x_test, y_test = load_xy(spec, "test", args.data_dir, True)
    y = np.eye(spec.layers[-1], dtype=x.dtype)[labels]
    net = HopfieldNetwork(spec, init_params(spec, spec.training.seed))
    optimizer, rates = make_optimizer(spec), learning_rates(net, spec)
    rng = np.random.default_rng(0)
    batch = spec.reference.batch_size
    order = np.random.default_rng([spec.training.seed, 0]).permutation(len(x))
    t0 = time.perf_counter()
    for start in range(0, len(x), batch):
        idx = order[start:start + batch]
        train_batch(net, optimizer, x[idx], y[idx], spec, rates, rng)
    seconds = time.perf_counter() - t0
    accuracy = evaluate_rate(net, x_test, y_test, spec.phases.free_steps)
    ph = spec.phases
    print(f"{spec.name} {'-'.join(map(str, spec.layers))}, T1={ph.free_steps} T2={ph.nudge_steps}"
          f", batch {batch}, {spec.reference.estimator} EP, {spec.reference.precision}: one epoch "
          f"of {len(x)} samples in "
          f"{seconds:.1f} s ({len(x) / seconds:.0f} samples/s); test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
