"""Benchmark: what a test image costs against a training sample, before and after
free-phase-only evaluation (a script that prints figures).

For each network of ``--networks`` (names in networks/, with profile_network's variant
suffixes, e.g. ``mnist-conv+delta``) it compiles the training build and times, on the
same weights (the initial ones after a warm-up chunk of training):

* a chunk of ``--samples`` training samples (ms per training sample);
* the same number of test images evaluated in the training build, each idling through the
  nudged slots of its sample (how eqspike evaluated before: "before");
* the same test images in a free-phase-only build, T1 steps per image ("after", what
  ``eqspike train`` and ``eqspike evaluate`` run now),

alternating the networks ``--repeats`` times (A B A B), and prints the medians and the
ratios. Both evaluations give the same predictions (tested in tests/test_training.py).

    python benchmarks/bench_evaluation.py [--networks mnist-conv,mnist-conv+delta]
                                          [--samples 1000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np


def measure(network, samples, data_dir, cache_dir, out):
    from profile_network import load_variant

    from eqspike.data import load_dataset, rates_from_images
    from eqspike.engine import StandaloneEngine
    from eqspike.parameters import as_lists, init_parameters
    from eqspike.schedule import SAMPLE_EVAL, SAMPLE_TRAIN

    spec = load_variant(network)
    train = load_dataset(spec.network.dataset, "train", data_dir)
    test = load_dataset(spec.network.dataset, "test", data_dir)
    x_train = rates_from_images(train.images[:2 * samples]).astype(float)
    y_train = np.eye(spec.layers[-1])[train.labels[:2 * samples]]
    x_test = rates_from_images(test.images[:samples]).astype(float)
    y_test = np.zeros((samples, spec.layers[-1]))
    weights, biases = as_lists(spec, init_parameters(spec, spec.training.seed))

    def timed(engine, x, y, kind, w, b):
        start = time.perf_counter()
        result = engine.run_chunk(x, y, np.full(len(x), kind), w, b)
        return time.perf_counter() - start, result

    engine = StandaloneEngine(spec, samples, cache_dir=cache_dir)
    _, warm = timed(engine, x_train[:samples], y_train[:samples], SAMPLE_TRAIN, weights, biases)
    w, b = warm.weights, warm.biases
    train_s, _ = timed(engine, x_train[samples:], y_train[samples:], SAMPLE_TRAIN, w, b)
    before_s, before = timed(engine, x_test, y_test, SAMPLE_EVAL, w, b)
    free = StandaloneEngine(spec, samples, cache_dir=cache_dir, free_only=True)
    timed(free, x_test[:10], y_test[:10], SAMPLE_EVAL, w, b)          # warm the binary
    after_s, after = timed(free, x_test, y_test, SAMPLE_EVAL, w, b)
    same = bool(np.array_equal(np.argmax(before.readout, 1), np.argmax(after.readout, 1)))
    Path(out).write_text(json.dumps({"train": 1e3 * train_s / samples,
                                     "before": 1e3 * before_s / samples,
                                     "after": 1e3 * after_s / samples, "same": same,
                                     "steps": [spec.steps_per_sample,
                                               spec.phases.free_steps]}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default="mnist-conv,mnist-conv+delta")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data-dir")
    parser.add_argument("--cache-dir")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        measure(args.one, args.samples, args.data_dir, args.cache_dir, args.json)
        return
    base = [sys.executable, __file__, "--samples", str(args.samples)]
    base += ["--data-dir", args.data_dir] if args.data_dir else []
    base += ["--cache-dir", args.cache_dir] if args.cache_dir else []
    found = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for network in args.networks.split(","):
                out = Path(tmp) / "one.json"
                subprocess.run(base + ["--one", network, "--json", str(out)], check=True)
                found[network].append(json.loads(out.read_text()))
                print(f"  round {repeat + 1}, {network}: {found[network][-1]}", file=sys.stderr,
                      flush=True)
    print(f"\n{args.samples} samples per timed chunk, {args.repeats} alternating round(s); "
          "medians, ms per sample")
    print(f"{'network':34s} {'train':>8s} {'test, before':>13s} {'test, after':>12s} "
          f"{'before/train':>13s} {'after/train':>12s} {'same classes':>13s}")
    for network, runs in found.items():
        m = {k: float(np.median([r[k] for r in runs])) for k in ("train", "before", "after")}
        steps = runs[0]["steps"]
        print(f"{network:34s} {m['train']:8.3f} {m['before']:13.3f} {m['after']:12.3f} "
              f"{m['before'] / m['train']:13.2f} {m['after'] / m['train']:12.2f} "
              f"{str(all(r['same'] for r in runs)):>13s}   ({steps[0]} vs {steps[1]} steps)")


if __name__ == "__main__":
    main()
