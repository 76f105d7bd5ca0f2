"""Benchmark: the conv edge products of the rate reference, the first implementation
(im2col index + sparse col2im, :mod:`eqspike.reference.edges_im2col`) against the current one
(channels-last, a k x k strided convolution of the box-summed input, reused scratch arrays:
:class:`eqspike.reference.edges.ConvEdge`), on
the shapes of a network's conv edges (default ``fmnist-conv``), in one run, alternating
(A B A B ...) so that both see the same machine load. Prints, for forward, backward (the
transpose) and grad, the milliseconds per call (median of the rounds, and the best round,
which is what the code costs when nothing else interrupts it), their ratios, and the
largest difference between the two (float64).

    python benchmarks/bench_conv.py [--network fmnist-conv] [--batch 50] [--rounds 7] [--kernel K]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _time(f, calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        f()
    return (time.perf_counter() - t0) / calls


def main(argv=None):
    from eqspike.reference.edges import ConvEdge
    from eqspike.reference.edges_im2col import Im2colConvEdge
    from eqspike.spec import load_network

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="fmnist-conv")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--kernel", type=int, help="replace every conv edge's kernel by this "
                        "one, with padding kernel // 2 (e.g. 3: fmnist-conv's first shapes)")
    args = parser.parse_args(argv)
    spec = load_network(args.network)
    shapes = spec.shapes
    rng = np.random.default_rng(0)
    totals = {"old": 0.0, "new": 0.0}
    for e in spec.edges:
        if e.kind != "conv":
            continue
        options = dict(kernel=e.kernel, stride=e.stride, padding=e.padding, pool=e.pool)
        if args.kernel:
            options.update(kernel=args.kernel, padding=args.kernel // 2)
        new = ConvEdge(tuple(shapes[e.pre]), tuple(shapes[e.post]), **options)
        old = Im2colConvEdge(tuple(shapes[e.pre]), tuple(shapes[e.post]), **options)
        w = rng.normal(size=new.weight_shape)
        x = rng.uniform(0, 1, (args.batch, int(np.prod(shapes[e.pre]))))
        g = rng.uniform(0, 1, (args.batch, int(np.prod(shapes[e.post]))))
        diff = max(np.abs(new.forward(w, x) - old.forward(w, x)).max(),
                   np.abs(new.backward(w, g) - old.backward(w, g)).max(),
                   np.abs(new.grad(x, g) - old.grad(x, g)).max())
        print(f"edge {e.pre}->{e.post} {tuple(shapes[e.pre])} -> {tuple(shapes[e.post])} "
              f"(kernel {options['kernel']}, pool {e.pool}), batch {args.batch}; largest "
              f"|new - old| {diff:.2e}")
        for op in ("forward", "backward", "grad"):
            calls = {"old": [], "new": []}
            for _ in range(args.rounds):
                for name, edge in (("old", old), ("new", new)):
                    f = {"forward": lambda: edge.forward(w, x),
                         "backward": lambda: edge.backward(w, g),
                         "grad": lambda: edge.grad(x, g)}[op]
                    calls[name].append(_time(f, args.calls))
            o, n = np.median(calls["old"]), np.median(calls["new"])
            best_o, best_n = min(calls["old"]), min(calls["new"])
            if op != "grad":
                totals["old"] += o
                totals["new"] += n
            print(f"  {op:8s} median: old {1e3 * o:7.3f} ms  new {1e3 * n:7.3f} ms  ratio "
                  f"{o / n:5.2f}x | best: old {1e3 * best_o:7.3f} new {1e3 * best_n:7.3f} "
                  f"ratio {best_o / best_n:5.2f}x")
    print(f"forward + backward over the conv edges (medians): old {1e3 * totals['old']:.3f} "
          f"ms, new {1e3 * totals['new']:.3f} ms, ratio {totals['old'] / totals['new']:.2f}x")


if __name__ == "__main__":
    main()
