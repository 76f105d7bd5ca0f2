"""Benchmark: OpenMP threads, events per sample, and ns per synaptic event (a script).

For each thread count of ``--threads`` (0: Brian2's plain sequential code; N ≥ 1: an OpenMP
build with N threads, ``prefs.devices.cpp_standalone.openmp_threads``) it compiles the
network once and times ``--samples`` training samples, starting from weights trained on
the samples before them, each configuration in its own process, alternating them
``--repeats`` times (A B C A B C …) so that all see the same machine load. It prints, per
thread count, ms per training sample (median), the ratio to the first, how far the
weights after the chunk are from the first configuration's, and the minutes an epoch of the
network's ``[training] train_samples`` takes at that speed.

It also prints what a training sample does, from the in-simulation event counters
(:func:`eqspike.energy.spiking_counts`): spikes, synaptic events (deliveries, both
directions), plasticity events and weight writes, and ns per synaptic operation (all
three). Beside it, the event-processing limit of this machine for Brian2's compiled
propagation: a network of the same input→hidden shape whose every input neuron spikes at
every step, doing only ``v_post += w`` (``--limit``).

    python benchmarks/bench_threads.py [--network mnist] [--threads 0,1,2] [--samples 2000]
                                       [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def timed_chunk(spec, samples, data_dir, cache_dir, **engine_options):
    """Compile ``spec`` for chunks of ``samples`` training samples, run one chunk from the
    initial weights (warm-up), then time a second one on the next samples. Returns (the
    engine, build seconds, the timed chunk's seconds, its result, its per-sample event
    counts: :func:`eqspike.energy.spiking_counts`). ``engine_options``: of
    :class:`~eqspike.engine.StandaloneEngine` (threads, profile)."""
    from eqspike.data import load_dataset, rates_from_images
    from eqspike.energy import spiking_counts
    from eqspike.engine import StandaloneEngine
    from eqspike.schedule import SAMPLE_TRAIN
    from eqspike.parameters import as_lists, init_parameters

    train = load_dataset(spec.network.dataset, "train", data_dir)
    images = rates_from_images(train.images[:2 * samples]).astype(float)
    targets = np.eye(spec.layers[-1])[train.labels[:2 * samples]]
    kinds = np.full(samples, SAMPLE_TRAIN)
    weights, biases = as_lists(spec, init_parameters(spec, spec.training.seed))
    t = time.perf_counter()
    engine = StandaloneEngine(spec, samples, cache_dir=cache_dir, **engine_options)
    build = time.perf_counter() - t
    warm = engine.run_chunk(images[:samples], targets[:samples], kinds, weights, biases)
    t = time.perf_counter()
    result = engine.run_chunk(images[samples:], targets[samples:], kinds, warm.weights,
                              warm.biases)
    seconds = time.perf_counter() - t
    counts = spiking_counts(spec, result.events.mean(axis=0), "training")
    return engine, build, seconds, result, counts


def load_spec(network):
    """The network ``--network`` names (a name in networks/ or a .toml path)."""
    from eqspike.spec import load_network

    return load_network(network)


def measure(network, samples, threads, data_dir, cache_dir, out):
    """Time one chunk of training samples with a ``threads`` build; write JSON to ``out``."""
    _, build, seconds, result, counts = timed_chunk(load_spec(network), samples, data_dir,
                                                    cache_dir, threads=threads)
    Path(out).write_text(json.dumps({
        "ms": 1e3 * seconds / samples, "build": build,
        "spikes": counts["spikes"].sum(axis=1).tolist(),
        "synaptic": float(counts["synaptic_events"].sum()),
        "plastic": float(counts["plasticity_events"].sum()),
        "writes": float(counts["weight_writes"].sum()),
        "weights": [w.tolist() for w in result.weights]}))


def limit(n_pre, n_post, steps, cache_dir):
    """ns per event of Brian2's compiled propagation: every input spikes every step."""
    import brian2 as b2

    b2.set_device("cpp_standalone", build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = 0
    source = b2.NeuronGroup(n_pre, "", threshold="True", dt=1 * b2.ms)
    target = b2.NeuronGroup(n_post, "v : 1", dt=1 * b2.ms)
    syn = b2.Synapses(source, target, "w : 1", on_pre="v_post += w", dt=1 * b2.ms)
    syn.connect()
    syn.w = "rand() * 1e-6"
    net = b2.Network(source, target, syn)
    net.run(steps * b2.ms, namespace={})
    directory = Path(cache_dir or tempfile.mkdtemp()) / f"limit-{n_pre}-{n_post}-{steps}"
    b2.device.build(directory=str(directory), run=False, with_output=False)
    b2.device.run(directory=str(directory), with_output=False)  # warm
    t = time.perf_counter()
    b2.device.run(directory=str(directory), with_output=False)
    seconds = time.perf_counter() - t
    print(json.dumps({"ns_per_event": 1e9 * seconds / (steps * n_pre * n_post)}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="mnist")
    parser.add_argument("--threads", default="0,1,2")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir")
    parser.add_argument("--cache-dir")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--limit", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        measure(args.network, args.samples, args.one, args.data_dir, args.cache_dir, args.json)
        return
    if args.limit:
        spec = load_spec(args.network)
        limit(spec.layers[0], spec.layers[1], 2000, args.cache_dir)
        return
    counts = [int(t) for t in args.threads.split(",")]
    runs = {t: [] for t in counts}
    base = [sys.executable, __file__, "--network", args.network, "--samples", str(args.samples)]
    base += ["--data-dir", args.data_dir] if args.data_dir else []
    base += ["--cache-dir", args.cache_dir] if args.cache_dir else []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for threads in counts:
                out = Path(tmp) / f"{threads}-{repeat}.json"
                subprocess.run(base + ["--one", str(threads), "--json", str(out)], check=True)
                runs[threads].append(json.loads(out.read_text()))
                print(f"  round {repeat + 1}, {threads} thread(s): "
                      f"{runs[threads][-1]['ms']:.3f} ms/sample", file=sys.stderr, flush=True)
        got = subprocess.run(base + ["--limit"], check=True, capture_output=True, text=True)
        ns_limit = json.loads(got.stdout.strip().splitlines()[-1])["ns_per_event"]
    first = counts[0]
    reference = [np.asarray(w) for w in runs[first][0]["weights"]]
    ms_first = float(np.median([r["ms"] for r in runs[first]]))
    print(f"\n{args.network}: {args.samples} training samples per timed chunk, "
          f"{args.repeats} alternating round(s)")
    epoch = load_spec(args.network).training.train_samples
    print(f"{'threads':>8s} {'ms/sample':>10s} {'range':>15s} {'vs ' + str(first):>8s} "
          f"{'max |dW| vs ' + str(first):>16s} {'min per epoch':>14s}")
    for threads in counts:
        ms = [r["ms"] for r in runs[threads]]
        diff = max(float(np.abs(np.asarray(w) - ref).max())
                   for w, ref in zip(runs[threads][0]["weights"], reference))
        print(f"{threads:8d} {np.median(ms):10.3f} {min(ms):7.3f}–{max(ms):7.3f} "
              f"{ms_first / np.median(ms):7.2f}x {diff:16.3g} "
              f"{np.median(ms) * epoch / 6e4:14.2f}")
    r = runs[first][0]
    ops = r["synaptic"] + r["plastic"] + r["writes"]
    print(f"\nper training sample: spikes per layer {', '.join(f'{s:.0f}' for s in r['spikes'])}; "
          f"synaptic events {r['synaptic']:.4g}, plasticity events {r['plastic']:.4g}, "
          f"weight writes {r['writes']:.4g}: {ops:.4g} synaptic operations")
    print(f"ns per synaptic operation ({first} threads): {1e6 * ms_first / ops:.2f}; "
          f"event-processing limit here (every input spiking every step, v_post += w only): "
          f"{ns_limit:.2f} ns per event")


if __name__ == "__main__":
    main()
