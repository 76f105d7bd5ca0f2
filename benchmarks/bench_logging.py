"""Benchmark: what STDP logging costs in training speed and run-file size (a script, not a test).

Runs the same MNIST training chunks through the plain build and through the logging build
(``--log-synapses`` per layer pair, every change reconstructed by
:class:`~eqspike.plasticity.stdp_log.STDPLogger`), alternating the two ``--repeats`` times
in one process (a cached build restarts in a fraction of a second), so both see the same
machine load. Each measurement is ``--chunks`` chunks after an untimed warm-up chunk, as
training runs them: the logger reconstructs a chunk's changes in a worker thread while the
next chunk simulates, and the timing ends when it has finished the last. Then writes one
epoch's log of those chunks into a run file and reports its size per 1,000 logged synapses.

    python benchmarks/bench_logging.py [--network mnist-rate-coded] [--samples 1000] [--chunks 3]
                                       [--repeats 3] [--log-synapses 1000]
                                       [--max-events 100000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="mnist-rate-coded",
                        help="a network STDP logging can rebuild (rate-coded input, trace partner)")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--chunks", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--log-synapses", type=int, default=1000)
    parser.add_argument("--max-events", type=int, default=100_000)
    parser.add_argument("--data-dir")
    parser.add_argument("--cache-dir")
    args = parser.parse_args(argv)

    from eqspike import runfile
    from eqspike.data import load_dataset, rates_from_images
    from eqspike.engine import StandaloneEngine
    from eqspike.plasticity.stdp_log import STDPLogger, select_synapses
    from eqspike.spec import load_network
    from eqspike.schedule import SAMPLE_TRAIN
    from eqspike.parameters import as_lists, init_parameters

    spec = load_network(args.network)
    n = args.samples
    train = load_dataset(spec.network.dataset, "train", args.data_dir)
    total = (args.chunks + 1) * n
    rates = rates_from_images(train.images[:total]).astype(float)
    targets = np.eye(spec.layers[-1])[train.labels[:total]]
    kinds = np.full(n, SAMPLE_TRAIN)
    weights, biases = as_lists(spec, init_parameters(spec, spec.training.seed))
    selection = select_synapses(spec, args.log_synapses, spec.training.seed)

    def measure(logging: bool):
        logger = STDPLogger(spec, selection, args.max_events, background=True) if logging else None
        engine = StandaloneEngine(spec, n, cache_dir=args.cache_dir,
                                  log_neurons=logger.neurons if logging else None)
        result = engine.run_chunk(rates[:n], targets[:n], kinds, weights, biases)
        lr_w = engine.learning_rates(0)[0]
        if logging:
            logger.start_epoch(result.weights, n)
        t0 = time.perf_counter()
        for c in range(1, args.chunks + 1):
            result = engine.run_chunk(rates[c * n:(c + 1) * n], targets[c * n:(c + 1) * n],
                                      kinds, result.weights, result.biases)
            if logging:
                logger.add_chunk(result.logged_spikes, lr_w, result.weights, c * n, n,
                                 (c + 1) * n)
        if logging:
            logger.flush()
        seconds = time.perf_counter() - t0
        return seconds / (args.chunks * n) * 1e3, logger

    times = {"off": [], "on": []}
    logger = None
    for _ in range(args.repeats):
        for mode in ("off", "on"):
            ms, log = measure(mode == "on")
            times[mode].append(ms)
            logger = log or logger
            print(f"  logging {mode:3s}: {ms:.3f} ms/sample", flush=True)
    off, on = np.median(times["off"]), np.median(times["on"])
    print(f"{spec.name}, {n} samples per chunk, {args.log_synapses} logged synapses per layer "
          f"pair ({[len(x) for x in logger.neurons]} neurons per layer), median of "
          f"{args.repeats}: off {off:.3f} ms/sample, on {on:.3f} ms/sample, overhead "
          f"{100 * (on / off - 1):+.1f}%")
    print(f"changes logged in the timed chunks: {logger.n_events.tolist()} per layer pair, "
          f"reconstruction mismatch {logger.max_mismatch.max():.2e}")

    with tempfile.TemporaryDirectory() as tmp:
        sizes = {}
        for label, groups in (("plain", None), ("logged", logger)):
            path = os.path.join(tmp, f"{label}.h5")
            extra = logger.selection_groups([0.0] * len(selection)) if groups else None
            runfile.create_run(path, spec, 0, weights, biases, groups=extra)
            runfile.finish_epoch(path, 1, weights, biases,
                                 dict.fromkeys(runfile.METRIC_FIELDS, 0),
                                 {k: np.zeros((len(spec.layers), 3))
                                  for k in runfile.EVENT_FIELDS}, 0,
                                 groups=logger.epoch_groups(1) if groups else None)
            sizes[label] = os.path.getsize(path)
    logged = args.log_synapses * len(selection)
    extra_bytes = sizes["logged"] - sizes["plain"]
    kept = sum(len(k) for k in logger.kept)
    print(f"run file: {extra_bytes / 1e6:.2f} MB more for one epoch of {logged} logged "
          f"synapses with {kept} kept changes: {extra_bytes / 1e6 * 1000 / logged:.2f} MB "
          f"per 1,000 logged synapses per epoch (at most {args.max_events} kept changes per "
          f"layer pair and epoch; the windows and trajectories are the rest)")


if __name__ == "__main__":
    main()
