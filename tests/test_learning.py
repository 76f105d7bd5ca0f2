"""Training learns: each rule, and the rate reference, on real MNIST samples.

A rule can change weights and still learn nothing (a flipped sign, a window in the wrong
steps, images paired with the wrong targets, a runaway weight): these tests train small
networks on the first training images and require a test accuracy far above chance (10%).

Thresholds, from runs of these exact settings (seeds 1 and 2; the tests use seed 1, and a
run is deterministic):

======================================  ===============  =========
rule (settings)                          measured         threshold
======================================  ===============  =========
eqspike, ``tiny`` (500 samples)          53.0%, 50.7%     35%
end_of_phase, ``tiny`` (500 samples)     56.0%, 50.3%     35%
continual, graded input, state partner   64.7%, 70.7%     40%
rate reference 784-32-10 (2000 samples)  72.4%, 83.4%     50%
======================================  ===============  =========

(300 test images for the spiking rules, 500 for the rate reference.)
"""

from __future__ import annotations

import pytest

from eqspike import runfile
from eqspike.spec import load_network
from eqspike.training import train

#: The spiking rules' settings: ``tiny`` as shipped (rate-coded input, spike traces,
#: symmetric nudging) for the window rules; the continual rule on the default network's
#: form (graded input, the rate state as partner, the step annealed in the nudged phases).
SPIKING = {
    "eqspike": ({}, 0.35),
    "end_of_phase": ({"learning": {"rule": "end_of_phase"}}, 0.35),
    "continual": ({"spiking": {"input_code": "graded"}, "phases": {"nudge_anneal": 0.1},
                   "learning": {"rule": "continual", "partner": "state",
                                "rates": [0.05, 0.05], "bias_rates": [0.05, 0.05]}}, 0.40),
}


def spiking_spec(rule: str):
    changes, _ = SPIKING[rule]
    spec = load_network("tiny").replace(training={"train_samples": 500, "seed": 1})
    return spec.replace(**changes) if changes else spec


def rate_spec():
    """The rate reference's ``mnist-rate`` settings on a 784-32-10 network."""
    return load_network("mnist-rate").replace(
        network={"layers": [784, 32, 10]}, reference={"batch_size": 20},
        training={"train_samples": 2000, "epochs": 1, "seed": 1})


@pytest.mark.parametrize("rule", sorted(SPIKING))
def test_spiking_training_learns(rule, tmp_path, data_dir):
    result = train(spiking_spec(rule), tmp_path / "run.h5", data_dir=data_dir, mode="runtime",
                   test_samples=300, progress=False)
    threshold = SPIKING[rule][1]
    assert result.test_accuracy[-1] > threshold, (
        f"{rule}: test accuracy {result.test_accuracy[-1]:.3f} after 500 samples, "
        f"expected > {threshold} (chance: 0.1)")
    run = runfile.read_run(result.path)
    assert run.metrics["train_accuracy"][-1] > 0.2       # it learned while training too


def test_rate_training_learns(tmp_path, data_dir):
    result = train(rate_spec(), tmp_path / "run.h5", data_dir=data_dir,
                        test_samples=500, progress=False)
    assert result.test_accuracy[-1] > 0.5, result.test_accuracy
