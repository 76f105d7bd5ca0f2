"""Depth experiment: a deep Hopfield network trained by EP with and without residual couplings.

The seed paper's claim (Elayedam & Srinivasan, Hopfield-Resnet): plain deep layered Hopfield
networks stagnate under EP, while residual (skip) couplings let them train. This script
trains a deep network twice with the same seed, data and settings: as a plain chain, and
with a skip coupling from every hidden layer l to layer l + 2 (each with the rate of the
plain coupling into that layer). Given a plain chain (``networks/deep.toml``: rate
reference, 784, six hidden layers, 10) it adds the skips; given a network that has them
(``networks/mnist-deep.toml``: spiking EP, three hidden layers) it removes them for the plain
run. Either engine: the network file's ``[network] path`` chooses. Each run is a normal run
file; the learning curves go side by side into one PNG (and CSV) via
analysis/learning_curve.py.

    python benchmarks/depth_experiment.py [--network deep] [--epochs 15] [--train-samples 60000]
                                          [--out-dir runs/depth] [--only plain|residual]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def with_skips(spec):
    """``spec`` with a dense skip coupling l → l+2 for every hidden layer l (into Φ's layers
    only: a cross-entropy read-out is not part of Φ)."""
    from eqspike.spec import EdgeSpec

    from eqspike.parameters import has_readout

    edges = list(spec.edges)
    rates = list(spec.learning.rates)
    rate_into = {e.post: r for e, r in zip(edges, rates)}
    last = len(spec.layers) - (2 if has_readout(spec) else 1)
    for layer in range(1, last - 1):
        edges.append(EdgeSpec(layer, layer + 2))
        rates.append(rate_into[layer + 2])
    return spec.replace(learning={"rates": rates},
                        network={"edges": edges,
                                 "description": spec.network.description + " + skips l->l+2"})


def has_skips(spec) -> bool:
    return any(e.post != e.pre + 1 for e in spec.edges)


def without_skips(spec):
    """``spec`` as a plain chain: its skip couplings (edges l → m, m > l + 1) removed, with
    their learning rates."""
    kept = [(e, r) for e, r in zip(spec.edges, spec.learning.rates) if e.post == e.pre + 1]
    return spec.replace(learning={"rates": [r for _, r in kept]},
                        network={"edges": [e for e, _ in kept],
                                 "description": spec.network.description + ", skips removed"})


def variants(spec) -> dict:
    """{"plain": the chain, "residual": the chain with skips l → l+2}, from either."""
    if has_skips(spec):
        return {"plain": without_skips(spec), "residual": spec}
    return {"plain": spec, "residual": with_skips(spec)}


def main(argv=None) -> int:
    from eqspike.training import train
    from eqspike.spec import load_network

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="deep")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--train-samples", type=int)
    parser.add_argument("--test-samples", type=int)
    parser.add_argument("--data-dir")
    parser.add_argument("--out-dir", default="runs/depth")
    parser.add_argument("--only", choices=("plain", "residual"),
                        help="train one of the two (e.g. one per core); the curves are drawn "
                             "from whichever run files exist")
    parser.add_argument("--resume", action="store_true",
                        help="continue existing run files from their last checkpoint")
    args = parser.parse_args(argv)
    spec = load_network(args.network)
    overrides = {k: v for k, v in (("epochs", args.epochs),
                                    ("train_samples", args.train_samples)) if v}
    if overrides:
        spec = spec.replace(training=overrides)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs = {label: (variant, out / f"{spec.name}-{label}.h5")
            for label, variant in variants(spec).items()}
    for label, (variant, path) in runs.items():
        if args.only not in (None, label):
            continue
        print(f"== {label}: {len(variant.edges)} couplings -> {path}", flush=True)
        if args.resume and path.exists():
            result = train(None, path, data_dir=args.data_dir, resume=True, progress=False)
        else:   # the script's own outputs: a rerun measures again and replaces them
            result = train(variant, path, data_dir=args.data_dir,
                           test_samples=args.test_samples, progress=False, overwrite=True)
        print(f"{label}: test accuracy per epoch "
              f"{', '.join(f'{a:.4f}' for a in result.test_accuracy)} "
              f"({result.seconds:.0f} s)", flush=True)
    # whichever run files exist now (with --only, the other may be a second process's)
    paths = [str(path) for _, path in runs.values() if path.exists()]
    sys.path.insert(0, str(ROOT / "analysis"))
    import learning_curve

    png = out / f"{spec.name}-depth.png"
    learning_curve.main([*paths, "--out", str(png)])
    print(f"learning curves: {png} (and .csv)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
