"""Benchmark: what the in-simulation event counters cost (a script, not a test).

Runs the same training samples through two compiled builds of one network, one with the
event counters (:func:`eqspike.spiking.build_network`, ``count_events=True``) and one
without, each in its own process (Brian2's standalone device holds one build per process),
alternating them ``--repeats`` times so that both see the same machine load. Prints ms per
sample of each and the counters' overhead.

    python benchmarks/bench_counters.py [--network mnist] [--samples 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np


def measure(network, samples, counting, data_dir, cache_dir):
    """ms per training sample of one build (after one untimed warm-up chunk)."""
    from eqspike.data import load_dataset, rates_from_images
    from eqspike.engine import StandaloneEngine
    from eqspike.spec import load_network
    from eqspike.schedule import SAMPLE_TRAIN
    from eqspike.parameters import as_lists, init_parameters

    spec = load_network(network)
    train = load_dataset(spec.network.dataset, "train", data_dir)
    rates = rates_from_images(train.images[:samples]).astype(float)
    targets = np.eye(spec.layers[-1])[train.labels[:samples]]
    kinds = np.full(samples, SAMPLE_TRAIN)
    weights, biases = as_lists(spec, init_parameters(spec, spec.training.seed))
    engine = StandaloneEngine(spec, samples, cache_dir=cache_dir, count_events=counting)
    warm = engine.run_chunk(rates, targets, kinds, weights, biases)  # learn a little first
    t0 = time.perf_counter()
    result = engine.run_chunk(rates, targets, kinds, warm.weights, warm.biases)
    elapsed = (time.perf_counter() - t0) / samples
    assert (result.events is not None) == counting
    return elapsed * 1e3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="mnist")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir")
    parser.add_argument("--cache-dir")
    parser.add_argument("--one", choices=("on", "off"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.network, args.samples, args.one == "on", args.data_dir,
                                 args.cache_dir)))
        return
    times = {"on": [], "off": []}
    base = [sys.executable, __file__, "--network", args.network, "--samples", str(args.samples)]
    for flag, value in (("--data-dir", args.data_dir), ("--cache-dir", args.cache_dir)):
        if value:
            base += [flag, value]
    for _ in range(args.repeats):
        for variant in ("off", "on"):
            out = subprocess.run(base + ["--one", variant], capture_output=True, text=True,
                                 check=True)
            times[variant].append(float(out.stdout.strip().splitlines()[-1]))
    on, off = np.median(times["on"]), np.median(times["off"])
    print(f"network {args.network}, {args.samples} training samples, median of "
          f"{args.repeats} runs each (one process per run)")
    for variant in ("off", "on"):
        runs = ", ".join(f"{t:.3f}" for t in times[variant])
        print(f"counters {variant:3s}: {np.median(times[variant]):.3f} ms/sample  ({runs})")
    print(f"overhead    : {100 * (on - off) / off:+.1f}%")


if __name__ == "__main__":
    main()
