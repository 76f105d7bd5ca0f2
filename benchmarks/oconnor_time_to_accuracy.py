"""Benchmark: time to accuracy of O'Connor, Gavves & Welling's spiking EP code, on the
points and test set that ``benchmarks/time_to_accuracy.py`` uses for eqspike.

O'Connor, Gavves & Welling, "Training a network of spiking neurons with Equilibrium
Propagation" (AISTATS 2019), https://github.com/QUVA-Lab/spiking-equilibrium-prop. This
script does not contain their code: it imports their ``eq_prop`` and ``quantized_eqprop``
modules from a checkout (``--repo``) and drives them as their MNIST demo
(``demo_mnist_eqprop.py``) does, with the settings of their quantized experiment:

* sigma-delta quantizer, step size ε_t = 0.843/t^0.0923 and code precision λ_t =
  0.832/t^0.584 (the schedules of their convergence search), 784-500-10;
* their ``one_hid_swapless`` settings: mini-batches of 20, 20 free steps, 4 nudged steps
  (and 4 more free ones: ``splitstream``), β = 0.5 with a random sign per mini-batch,
  learning rates 0.1 / 0.05, seed 1234;
* eqspike's MNIST files (60,000 training images; the official 10,000-image test set, where
  their demo tests on the 10,000 validation images of the deeplearning.net pickle),
  pixels / 255.

At 5k, 10k, 20k, 40k training samples and every epoch's end it records the training
seconds so far (the update calls only) and the test accuracy of a 20-step free phase on
all 10,000 test images (timed apart). Writes a CSV eqspike's figures can be set beside.

Set-up (their demo wants artemis 2.1.1 from GitHub; artemis-ml 2.0.0 from PyPI has all that
their two modules import), in a virtual environment of its own:

    git clone https://github.com/QUVA-Lab/spiking-equilibrium-prop oconnor
    python3 -m venv oc-venv && . oc-venv/bin/activate
    pip install "numpy<2.4" artemis-ml==2.0.0 six
    OPENBLAS_NUM_THREADS=1 python benchmarks/oconnor_time_to_accuracy.py --repo oconnor \\
        --epochs 10 [--data-dir ../shared/data]

Their released ``quantized_eqprop.py`` prints ``np.unique(output)`` for every layer at every
step (a debug line); the figures in docs/speed.md were taken with that one line deleted, and
this script warns when it is there, since it adds to their time.
"""

from __future__ import annotations

import argparse
import csv
import inspect
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, help="checkout of spiking-equilibrium-prop")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--points", default="5000,10000,20000,40000")
    parser.add_argument("--data-dir", help="default: $EQSPIKE_DATA")
    parser.add_argument("--out", default="oconnor_time_to_accuracy.csv")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(Path(args.repo).resolve()))
    sys.path.insert(0, str(ROOT))   # eqspike.data needs only numpy: no eqspike install here
    from spiking_equilibrium_prop import quantized_eqprop
    from spiking_equilibrium_prop.eq_prop import (initialize_params, initialize_states,
                                                  run_eqprop_training_update, run_inference)

    from eqspike.data import load_dataset, rates_from_images

    if "print(np.unique(output))" in inspect.getsource(quantized_eqprop):
        print("warning: quantized_eqprop.py still prints np.unique(output) at every step; "
              "its time is counted", file=sys.stderr)
    train, test = (load_dataset("mnist", split, args.data_dir) for split in ("train", "test"))
    x_train = rates_from_images(train.images).astype(float)
    y_train = np.eye(10, dtype=np.float32)[train.labels]
    x_test = rates_from_images(test.images).astype(float)

    layer = quantized_eqprop.EncodingDecodingNeuronLayer.get_simple_constrcutor(
        epsilons="0.843/t**0.0923", lambdas="0.832/t**0.584", quantizer="sigma_delta")
    rng = np.random.RandomState(1234)
    batch, n = 20, len(x_train)
    states = initialize_states(layer_constructor=layer, n_samples=batch,
                               params=initialize_params(layer_sizes=[784, 500, 10],
                                                        initial_weight_scale=1.0, rng=rng))
    marks = sorted({int(p) for p in args.points.split(",")}
                   | {n * e for e in range(1, args.epochs + 1)})
    seen, train_seconds = 0, 0.0
    with open(args.out, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["samples", "train_seconds", "test_accuracy", "eval_seconds"])
        print(f"{'samples':>8s} {'train s':>9s} {'ms/sample':>10s} {'test %':>7s} {'eval s':>7s}")
        for _ in range(args.epochs):
            order = rng.permutation(n)
            for start in range(0, n, batch):
                ixs = order[start:start + batch]
                t = time.perf_counter()
                states = run_eqprop_training_update(
                    x_data=x_train[ixs], y_data=y_train[ixs], layer_states=states, beta=0.5,
                    random_flip_beta=True, learning_rate=[0.1, 0.05], layer_constructor=layer,
                    bidirectional=True, renew_activations=True, n_negative_steps=20,
                    n_positive_steps=4, prop_direction="neutral", splitstream=True, rng=rng)
                train_seconds += time.perf_counter() - t
                seen += len(ixs)
                if seen not in marks:
                    continue
                t = time.perf_counter()
                free = initialize_states(layer_constructor=layer, n_samples=len(x_test),
                                         params=[s.params for s in states])
                predicted = run_inference(x_data=x_test, states=free, n_steps=20)
                accuracy = 100 * float(np.mean(np.argmax(predicted, 1) == test.labels))
                eval_seconds = time.perf_counter() - t
                out.writerow([seen, f"{train_seconds:.1f}", f"{accuracy:.2f}",
                              f"{eval_seconds:.1f}"])
                f.flush()
                print(f"{seen:8d} {train_seconds:9.1f} {1000 * train_seconds / seen:10.2f} "
                      f"{accuracy:7.2f} {eval_seconds:7.1f}", flush=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
