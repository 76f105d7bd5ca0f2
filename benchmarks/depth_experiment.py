"""Depth experiment: a deep Hopfield network trained by EP with and without residual couplings.

The seed paper's claim (Elayedam & Srinivasan, Hopfield-Resnet): plain deep layered Hopfield
networks stagnate under EP, while residual (skip) couplings let them train. This script
trains ``networks/deep.toml`` (784, six hidden layers, 10) twice with the same seed, data
and settings: as it is, and with a skip coupling from every hidden layer l to layer l + 2
(each with the rate of the plain coupling into that layer). Each run is a normal run file;
the learning curves go side by side into one PNG (and CSV) via analysis/learning_curve.py.

    python benchmarks/depth_experiment.py [--network deep] [--epochs 15] [--train-samples 60000]
                                          [--out-dir runs/depth]
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

    edges = list(spec.edges)
    rates = list(spec.learning.rates)
    rate_into = {e.post: r for e, r in zip(edges, rates)}
    last = len(spec.layers) - (2 if spec.reference.loss == "cross_entropy" else 1)
    for layer in range(1, last - 1):
        edges.append(EdgeSpec(layer, layer + 2))
        rates.append(rate_into[layer + 2])
    return spec.replace(learning={"rates": rates},
                        network={"edges": edges,
                                 "description": spec.network.description + " + skips l->l+2"})


def main(argv=None) -> int:
    from eqspike.training import train as train_rate
    from eqspike.spec import load_network

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="deep")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--train-samples", type=int)
    parser.add_argument("--test-samples", type=int)
    parser.add_argument("--data-dir")
    parser.add_argument("--out-dir", default="runs/depth")
    args = parser.parse_args(argv)
    spec = load_network(args.network)
    overrides = {k: v for k, v in (("epochs", args.epochs),
                                    ("train_samples", args.train_samples)) if v}
    if overrides:
        spec = spec.replace(training=overrides)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for label, variant in (("plain", spec), ("residual", with_skips(spec))):
        path = out / f"{spec.name}-{label}.h5"
        print(f"== {label}: {len(variant.edges)} couplings -> {path}", flush=True)
        # the script's own outputs: a rerun measures again and replaces them
        result = train_rate(variant, path, data_dir=args.data_dir,
                            test_samples=args.test_samples, progress=False, overwrite=True)
        print(f"{label}: test accuracy per epoch "
              f"{', '.join(f'{a:.4f}' for a in result.test_accuracy)} "
              f"({result.seconds:.0f} s)", flush=True)
        paths.append(str(path))
    sys.path.insert(0, str(ROOT / "analysis"))
    import learning_curve

    png = out / f"{spec.name}-depth.png"
    learning_curve.main([*paths, "--out", str(png)])
    print(f"learning curves: {png} (and .csv)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
