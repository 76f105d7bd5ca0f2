"""Benchmark: where a training sample's time goes, per code object and per edge (a script).

For each network of ``--networks`` (names in networks/ or .toml paths) it compiles the
network twice, once plain and once with Brian2's per-code-object profile
(``profile=True``, :meth:`eqspike.engine.StandaloneEngine.profiling_info`), and runs
``--samples`` training samples from the initial weights through each (a warm-up chunk, then
the timed one), each network in a child process of its own, alternating the networks
``--repeats`` times (A B A B …) so that all see the same machine load. It prints, per
network:

* ms per training sample (the plain build; median over the rounds), and the minutes an
  epoch of the network's ``[training] train_samples`` takes at that speed;
* per edge of the graph, the synaptic events (deliveries, both directions) per training
  sample, from the in-simulation event counters (:func:`eqspike.energy.spiking_counts`),
  and the share of the profiled time spent in that edge's code objects;
* ns per synaptic event (the whole sample's time over all of its deliveries, plasticity
  events and weight writes) against Brian2's compiled delivery limit on this machine: a
  network whose every input neuron spikes at every step doing only ``v_post += w``;
* the slowest code objects (their share, and µs per simulated step).

    python benchmarks/profile_network.py [--networks mnist,mnist-deep] [--samples 500]
                                         [--repeats 2]

A network may be written ``NAME@784-256-256-10`` (its dense chain with those layers; the
first edge's learning rate for every edge but the last) and end in ``+copy`` or
``+shared`` (its ``[spiking] feedback``) and ``+delta`` (the delta code and its rule,
``[spiking] code = "delta"``, ``[learning] rule = "delta"``, at the file's thresholds;
``+delta0.0625/0.015625``: θ = 1/16 in free steps and 1/64 in nudged ones; ``+delta0.03125``:
1/32 in both) and ``+noflush`` (``delta_flush = false``), e.g. ``mnist@784-256-256-10+copy``,
``mnist-deep+shared`` or ``mnist-conv+delta0.0625/0.015625+noflush``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np


def load_variant(name: str):
    """The network a ``--networks`` entry names (see the module docstring)."""
    from eqspike.spec import load_network

    name, *suffixes = name.split("+")
    name, _, layers = name.partition("@")
    spec = load_network(name)
    if layers:
        sizes = [int(n) for n in layers.split("-")]
        first, last = spec.learning.rates[0], spec.learning.rates[-1]
        rates = [first] * (len(sizes) - 2) + [last]
        spec = spec.replace(network={"layers": sizes, "edges": []},
                            learning={"rates": rates, "bias_rates": rates})
    for suffix in suffixes:
        if suffix.startswith("delta"):
            theta = {}
            if suffix[5:]:
                free, _, nudged = suffix[5:].partition("/")
                theta = {"delta_theta": float(free), "delta_theta_nudged": float(nudged or free)}
            spec = spec.replace(spiking={"code": "delta", **theta}, learning={"rule": "delta"})
        elif suffix == "noflush":
            spec = spec.replace(spiking={"delta_flush": False})
        else:
            spec = spec.replace(spiking={"feedback": suffix})
    return spec


def measure(network, samples, profile, data_dir, cache_dir, out):
    """Time one chunk of ``samples`` training samples of ``network``; write JSON to ``out``."""
    from bench_threads import timed_chunk   # the sibling benchmark's timing of a chunk
    from eqspike.spiking import edge_synapses_name

    spec = load_variant(network)
    engine, build, seconds, _, counts = timed_chunk(spec, samples, data_dir, cache_dir,
                                                    profile=profile)
    record = {"ms": 1e3 * seconds / samples, "build": build, "layers": list(spec.layers),
              "edges": [edge_synapses_name(e) for e in spec.edges],
              "steps": samples * spec.steps_per_sample + 1,
              "spikes": counts["spikes"].sum(axis=1).tolist(),
              "synaptic": counts["synaptic_events"].sum(axis=1).tolist(),
              "plastic": counts["plasticity_events"].sum(axis=1).tolist(),
              "writes": counts["weight_writes"].sum(axis=1).tolist()}
    if profile:
        record["profile"] = engine.profiling_info()
    Path(out).write_text(json.dumps(record))


def owner(code_object: str, edges: list) -> str:
    """The edge (Synapses name) or layer a Brian2 code object belongs to."""
    for name in sorted(edges, key=len, reverse=True):
        if code_object.startswith(name + "_") or code_object == name:
            return name
    return code_object.split("_")[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default="mnist,mnist-deep")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--top", type=int, default=8)
    parser.add_argument("--data-dir")
    parser.add_argument("--cache-dir")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        measure(args.one, args.samples, args.profile, args.data_dir, args.cache_dir, args.json)
        return
    networks = args.networks.split(",")
    base = [sys.executable, __file__, "--samples", str(args.samples)]
    base += ["--data-dir", args.data_dir] if args.data_dir else []
    base += ["--cache-dir", args.cache_dir] if args.cache_dir else []
    plain, profiled = defaultdict(list), {}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for network in networks:
                out = Path(tmp) / f"{repeat}.json"
                subprocess.run(base + ["--one", network, "--json", str(out)], check=True)
                plain[network].append(json.loads(out.read_text()))
                print(f"  round {repeat + 1}, {network}: {plain[network][-1]['ms']:.3f} "
                      "ms/sample", file=sys.stderr, flush=True)
        for network in networks:
            out = Path(tmp) / "profiled.json"
            subprocess.run(base + ["--one", network, "--profile", "--json", str(out)],
                           check=True)
            profiled[network] = json.loads(out.read_text())
        limit_cmd = [sys.executable, str(Path(__file__).with_name("bench_threads.py")),
                     "--limit", "--network", networks[0]]
        limit_cmd += ["--cache-dir", args.cache_dir] if args.cache_dir else []
        got = subprocess.run(limit_cmd, check=True, capture_output=True, text=True)
        ns_limit = json.loads(got.stdout.strip().splitlines()[-1])["ns_per_event"]

    print(f"\n{args.samples} training samples per timed chunk, {args.repeats} alternating "
          f"round(s); Brian2's compiled delivery limit here: {ns_limit:.2f} ns per event")
    for network in networks:
        runs, prof = plain[network], profiled[network]
        ms = float(np.median([r["ms"] for r in runs]))
        rounds = ", ".join(f"{x['ms']:.3f}" for x in runs)
        r = runs[0]
        ops = sum(r["synaptic"]) + sum(r["plastic"]) + sum(r["writes"])
        total = sum(t for _, t in prof["profile"])
        by_owner = defaultdict(float)
        for name, t in prof["profile"]:
            by_owner[owner(name, r["edges"])] += t
        epoch = load_variant(network).training.train_samples
        print(f"\n{network} ({'-'.join(map(str, r['layers']))}): {ms:.3f} ms per training "
              f"sample (rounds: {rounds}; {ms * epoch / 6e4:.2f} min per {epoch}-sample "
              "epoch); "
              f"{ops:.3g} operations per sample, {1e6 * ms / ops:.2f} ns each "
              f"({1e6 * ms / ops / ns_limit:.1f}x the delivery limit); profiled build "
              f"{1e3 * total / args.samples:.3f} ms per sample")
        print("  spikes per sample by layer: "
              + ", ".join(f"L{k} {s:.0f}" for k, s in enumerate(r["spikes"])))
        print(f"  {'edge':8s} {'synaptic events':>16s} {'plasticity':>11s} {'writes':>9s} "
              f"{'profiled time':>14s}")
        for k, name in enumerate(r["edges"]):
            print(f"  {name:8s} {r['synaptic'][k]:16.4g} {r['plastic'][k]:11.4g} "
                  f"{r['writes'][k]:9.4g} {100 * by_owner.pop(name, 0.0) / total:13.1f}%")
        rest = ", ".join(f"{k} {100 * v / total:.1f}%"
                         for k, v in sorted(by_owner.items(), key=lambda kv: -kv[1]))
        print(f"  the rest: {rest}")
        print("  slowest code objects (share, µs per step):")
        for name, t in prof["profile"][:args.top]:
            print(f"    {name:44s} {100 * t / total:5.1f}%  {1e6 * t / prof['steps']:7.3f}")


if __name__ == "__main__":
    main()
