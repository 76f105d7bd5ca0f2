"""How well a spiking rule's update points along the exact EP update: cosines per edge.

    python analysis/delta_rule_cosine.py RUN.h5 [--samples 200] [--theta 1/16:1/64:flush ...]
                                         [--out cosine.csv]

On a run's last weights, for ``--samples`` training images, it sums each rule's weight
update over the images and compares it, edge by edge (and for the biases), with the exact
EP update of the network's rate twin on the same images (:func:`spiking_twin`: the free
phase, then the −β and +β phases from the free state, the symmetric estimate
ρ⁺ρ⁺ − ρ⁻ρ⁻ summed over the images; one-sided: ρ^β ρ^β − ρ⁰ρ⁰): the cosine of the two
vectors, and the gain: the least-squares factor between the update and (η/β_eff) times the
exact difference (1: EP's own size). The rules: the delta code and its rule at each ``--theta`` (θ free : θ nudged, and
``flush`` for end-of-phase events), and the rate-coded EqSpike rule (``[spiking] code =
"sigma_delta"``, ``[learning] rule = "eqspike"``, the partner and window of
``--rate-network``). Every rule runs with learning rates of 1e-9, so that the weights stay
those of the run over the images and the summed change is the sum of the per-image
updates.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np


def parse_theta(text: str) -> dict:
    """``1/16:1/64:flush`` -> the [spiking] fields of that delta code."""
    parts = text.split(":")

    def number(t):
        a, _, b = t.partition("/")
        return float(a) / float(b) if b else float(a)

    free = number(parts[0])
    nudged = number(parts[1]) if len(parts) > 1 and parts[1] else free
    return {"code": "delta", "delta_theta": free, "delta_theta_nudged": nudged,
            "delta_flush": "flush" in parts[2:]}


def variant(spec, spiking: dict, learning: dict):
    """``spec`` in another code and rule, every learning rate 1e-9."""
    tiny = [1e-9] * len(spec.edges)
    return spec.replace(spiking=spiking, learning={**learning, "rates": tiny,
                                                   "bias_rates": [1e-9] * (len(spec.layers) - 1),
                                                   "decay": 1.0})


def spiking_update(spec, weights, biases, x, y, mode, cache_dir=None):
    """The summed change of every weight and bias over the images, per parameter."""
    from eqspike.engine import make_engine
    from eqspike.schedule import SAMPLE_TRAIN

    engine = make_engine(spec, mode, len(x), cache_dir=cache_dir)
    result = engine.run_chunk(x, y, np.full(len(x), SAMPLE_TRAIN), weights, biases)
    return ([a - b for a, b in zip(result.weights, weights)],
            [a - b for a, b in zip(result.biases, biases)])


def twin_update(spec, weights, biases, x, y):
    """The rate twin's exact EP update, summed over the images (per edge, per bias)."""
    from eqspike.parameters import edge_name
    from eqspike.reference.network import spiking_twin

    twin = spiking_twin(spec, weights, biases)
    ph = spec.phases
    fixed = twin.input_drive(x)
    free = twin.relax(x, twin.zero_states(len(x)), ph.free_steps, fixed=fixed)
    plus = twin.relax(x, free, ph.nudge_steps, ph.beta, y, fixed=fixed)
    minus = (twin.relax(x, free, ph.nudge_steps, -ph.beta, y, fixed=fixed)
             if spec.nudged_phases == 2 else free)
    grads = twin.phi_grads_difference(x, twin.rates(plus), twin.rates(minus))
    return ([grads[edge_name(e)] for e in spec.edges],
            [grads[f"b_{k}"] for k in range(1, len(spec.layers))])


def cosine(a, b) -> float:
    a, b = np.ravel(a), np.ravel(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def gain(update, exact, scale: float) -> float:
    """The least-squares factor between a rule's update and ``scale`` times the exact EP
    difference (1: the update has EP's size, η/β_eff times the difference)."""
    a, b = np.ravel(update), scale * np.ravel(exact)
    return float(a @ b / (b @ b))


def main(argv=None):
    from eqspike.data import load_dataset, rates_from_images
    from eqspike.rules import effective_beta
    from eqspike.runfile import read_run
    from eqspike.spec import load_network

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--theta", action="append",
                        help="a delta code to measure, θ free:θ nudged[:flush] "
                             "(repeatable; default 1/16:1/64:flush)")
    parser.add_argument("--rate-network", default="mnist-conv",
                        help="the network whose [learning] partner and window_rate the "
                             "rate-coded EqSpike rule takes (default mnist-conv)")
    parser.add_argument("--mode", choices=("standalone", "runtime"), default="standalone")
    parser.add_argument("--data-dir")
    parser.add_argument("--out", default="cosine.csv")
    args = parser.parse_args(argv)

    run = read_run(args.run)
    spec, point = run.spec, run.final
    weights, biases = point.weights, point.biases
    train = load_dataset(spec.network.dataset, "train", args.data_dir)
    x = rates_from_images(train.images[:args.samples]).astype(float)
    y = np.eye(spec.layers[-1])[train.labels[:args.samples]]
    exact_w, exact_b = twin_update(spec, weights, biases, x, y)

    rate = load_network(args.rate_network)
    rules = {f"delta {t}": (parse_theta(t), {"rule": "delta", "partner": "trace",
                                             "window_rate": "spikes"})
             for t in (args.theta or ["1/16:1/64:flush"])}
    rules["rate-coded EqSpike"] = ({"code": "sigma_delta", "delta_theta": 0.0625,
                                    "delta_theta_nudged": 0.0625, "delta_flush": True},
                                   {"rule": "eqspike", "partner": rate.learning.partner,
                                    "window_rate": rate.learning.window_rate})
    names = [f"W_{e.pre}_{e.post}" for e in spec.edges] + \
        [f"b_{k}" for k in range(1, len(spec.layers))]
    table = []
    for label, (spiking, learning) in rules.items():
        changed = variant(spec, spiking, learning)
        dw, db = spiking_update(changed, weights, biases, x, y, args.mode)
        scale = 1e-9 / effective_beta(changed)
        row = {"rule": label, **{n: cosine(a, b) for n, a, b in
                                 zip(names, dw + db, exact_w + exact_b)},
               **{f"gain {n}": gain(a, b, scale) for n, a, b in
                  zip(names, dw + db, exact_w + exact_b)}}
        table.append(row)
        print(f"{label:28s} cosine " + "  ".join(f"{n} {row[n]:.3f}" for n in names)
              + "\n" + " " * 29 + "gain   " + "  ".join(f"{n} {row['gain ' + n]:.3f}"
                                                       for n in names), flush=True)
    with open(args.out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    print(f"cosine to the rate twin's exact EP update over {args.samples} training images "
          f"({run.attrs['network']}, {Path(args.run).name}, last checkpoint); numbers "
          f"{args.out}")


if __name__ == "__main__":
    main()
