"""Rate-based EP with the spiking network's settings: the reference the spiking path is held to.

Trains a network definition's layers with the rate dynamics of :mod:`eqspike.reference`
(same leak α = 1/tau_u, T1, T2, β, learning rates, decay, initialisation and sample order
as the spiking run), one sample at a time as the spiking rule does, and prints the test
accuracy on the full test set after every epoch. A script, not a test (about 130 s per
60k-sample epoch on one core).

    python benchmarks/rate_ep_online.py [--network mnist] [--epochs 4] [--decay 0.85]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None):
    from eqspike.data import load_dataset, rates_from_images
    from eqspike.reference.network import spiking_twin
    from eqspike.spec import load_network
    from eqspike.parameters import as_lists, init_parameters

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="mnist")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train-samples", type=int, default=60000)
    parser.add_argument("--decay", type=float, help="override [learning] decay")
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)

    spec = load_network(args.network)
    if args.decay is not None:
        spec = spec.replace(learning={"decay": args.decay})
    weights, biases = as_lists(spec, init_parameters(spec, spec.training.seed))
    net = spiking_twin(spec, weights, biases)
    train = load_dataset(spec.network.dataset, "train", args.data_dir)
    test = load_dataset(spec.network.dataset, "test", args.data_dir)
    n = min(args.train_samples, len(train))
    x = rates_from_images(train.images[:n]).astype(float)
    y = np.eye(spec.layers[-1])[train.labels[:n]]
    x_test = rates_from_images(test.images).astype(float)
    t1, t2, beta = spec.phases.free_steps, spec.phases.nudge_steps, spec.phases.beta
    learning = spec.learning
    print(f"rate EP, {spec.name} {'-'.join(map(str, spec.layers))}, online, T1={t1} T2={t2} "
          f"beta={beta} alpha={net.alpha}")
    for epoch in range(args.epochs):
        factor = learning.decay ** epoch
        order = np.random.default_rng([spec.training.seed, epoch]).permutation(n)
        t0 = time.perf_counter()
        for i in order:
            xi = x[i:i + 1]
            free = net.relax(xi, net.zero_states(1), t1)
            nudged = net.relax(xi, free, t2, beta, y[i:i + 1])
            before, after = net.phi_grads(xi, net.rates(free)), net.phi_grads(xi, net.rates(nudged))
            for k in range(len(spec.layers) - 1):   # the one-sided EP update, per sample
                w, b = f"W_{k}_{k + 1}", f"b_{k + 1}"
                net.params[w] += learning.rates[k] * factor * (after[w] - before[w]) / beta
                net.params[b] += learning.bias_rates[k] * factor * (after[b] - before[b]) / beta
        accuracy = np.mean(net.predict(x_test, t1) == test.labels)
        print(f"epoch {epoch + 1}: test accuracy {accuracy:.4f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
