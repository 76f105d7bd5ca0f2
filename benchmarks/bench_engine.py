"""Benchmark: the compiled engine against a plain Brian2 runtime loop (a script, not a test).

On the same network and the same training samples it measures

(a) the compiled engine (:class:`eqspike.engine.StandaloneEngine`): ms per training sample,
    the build (compile) time apart;
(b) a plain Brian2 runtime loop, the way a Brian2 user would write it: one network, and one
    ``run()`` per phase per sample (free, then nudged), with Brian2's default runtime target;

prints both and their ratio; then times a full epoch of the compiled engine over the 60k
MNIST training images (``--epoch-samples``) and reports its peak memory (this process and
the simulation binary, max resident set size).

    python benchmarks/bench_engine.py [--network mnist] [--samples 200] [--epoch-samples 60000]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np


def _data(spec, n, data_dir, offset=0):
    from eqspike.data import load_dataset, rates_from_images

    train = load_dataset(spec.network.dataset, "train", data_dir)
    rates = rates_from_images(train.images[offset:offset + n]).astype(float)
    targets = np.eye(spec.layers[-1])[train.labels[offset:offset + n]]
    return rates, targets


def bench_compiled(spec, rates, targets, weights, biases, cache_dir):
    from eqspike.engine import StandaloneEngine
    from eqspike.schedule import SAMPLE_TRAIN

    n = len(rates)
    t0 = time.perf_counter()
    engine = StandaloneEngine(spec, n, cache_dir=cache_dir)
    build = time.perf_counter() - t0
    kinds = np.full(n, SAMPLE_TRAIN)
    engine.run_chunk(rates, targets, kinds, weights, biases)  # warm the file cache
    t0 = time.perf_counter()
    result = engine.run_chunk(rates, targets, kinds, weights, biases)
    per_sample = (time.perf_counter() - t0) / n
    return build, per_sample, result


def bench_runtime_loop(spec, rates, targets, weights, biases):
    """One Brian2 network in runtime mode; ``run()`` once per phase of every sample."""
    import brian2 as b2

    from eqspike.engine import RuntimeEngine
    from eqspike.spiking import build_network

    b2.set_device("runtime")
    b2.prefs.codegen.target = "auto"  # Brian2's default: Cython where it compiles
    n = len(rates)
    net = build_network(spec, n, rates=rates, targets=targets, weights=weights, biases=biases)
    RuntimeEngine(spec, n).set_run_parameters(net)
    dt = spec.spiking.dt_ms * b2.ms
    free, nudged = spec.phases.free_steps * dt, spec.phases.nudge_steps * dt
    net.network.run(free, namespace={})  # first run: code generation and Cython compile
    net.network.run(nudged, namespace={})
    t0 = time.perf_counter()
    for _ in range(1, n):
        net.network.run(free, namespace={})
        net.network.run(nudged, namespace={})
    per_sample = (time.perf_counter() - t0) / (n - 1)
    return per_sample


def bench_epoch(spec, n, data_dir, weights, biases, cache_dir):
    from eqspike.engine import StandaloneEngine
    from eqspike.schedule import SAMPLE_TRAIN

    chunk = spec.training.chunk_samples
    rates, targets = _data(spec, n, data_dir)
    engine = StandaloneEngine(spec, chunk, cache_dir=cache_dir)
    t0 = time.perf_counter()
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        result = engine.run_chunk(rates[start:stop], targets[start:stop],
                                  np.full(stop - start, SAMPLE_TRAIN), weights, biases)
        weights, biases = result.weights, result.biases
        print(f"\r  epoch: {stop}/{n} samples, {time.perf_counter() - t0:.0f} s", end="",
              file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return time.perf_counter() - t0


def main(argv=None):
    from eqspike.spec import load_network
    from eqspike.parameters import as_lists, init_parameters

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="mnist")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--epoch-samples", type=int, default=60000,
                        help="samples of the timed epoch (0: skip)")
    parser.add_argument("--data-dir")
    parser.add_argument("--cache-dir", help="build cache (default: eqspike's)")
    args = parser.parse_args(argv)

    spec = load_network(args.network)
    weights, biases = as_lists(spec, init_parameters(spec, spec.training.seed))
    rates, targets = _data(spec, args.samples, args.data_dir)
    print(f"network {spec.name} {'-'.join(map(str, spec.layers))}, "
          f"T1={spec.phases.free_steps} T2={spec.phases.nudge_steps}, {args.samples} samples")

    build, compiled, result = bench_compiled(spec, rates, targets, weights, biases,
                                             args.cache_dir)
    print(f"(a) compiled engine : {compiled * 1e3:8.2f} ms/sample  (build {build:.1f} s)")
    runtime = bench_runtime_loop(spec, rates, targets, weights, biases)
    print(f"(b) runtime loop    : {runtime * 1e3:8.2f} ms/sample  (one run() per phase)")
    print(f"ratio (b)/(a)       : {runtime / compiled:8.1f}x")

    if args.epoch_samples:
        seconds = bench_epoch(spec, args.epoch_samples, args.data_dir, weights, biases,
                              args.cache_dir)
        print(f"epoch of {args.epoch_samples} samples (compiled): {seconds:.0f} s "
              f"({seconds / args.epoch_samples * 1e3:.2f} ms/sample)")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak memory (max RSS): {own:.0f} MiB in this Python process (the runtime loop's "
          f"network included); child processes <= {child:.0f} MiB (a forked child starts "
          f"with its parent's size, so this bounds the simulation binary, not measures it)")


if __name__ == "__main__":
    main()
