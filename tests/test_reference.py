"""The rate reference: Φ and its gradients, BPTT, the GDU property, estimators, training."""

from __future__ import annotations

import numpy as np
import pytest

from eqspike import cli, runfile
from eqspike.reference.edges import ConvEdge
from eqspike.reference.gdu import gdu_check
from eqspike.reference.learning import bptt, ep_gradients
from eqspike.reference.network import HopfieldNetwork, init_params
from eqspike.spec import SpecError, spec_from_toml

RESNET = """
shapes = [[1, 6, 6], [2, 6, 6], [3, 3, 3], [4]]
edges = [{pre = 0, post = 1, kind = "conv", padding = 1},
         {pre = 1, post = 2, kind = "conv", padding = 1, pool = 2},
         {pre = 2, post = 3}, {pre = 1, post = 3}]
rates = [0.1, 0.1, 0.1, 0.1]
"""


def rate_spec(reference="", layers="[36, 72, 27, 4]", activation="sigmoid", extra="",
              rates="[0.1, 0.1, 0.1]"):
    # a graph given in [reference] (eqspike 0.1's spelling) brings its own rates there
    edge_rates = "" if "\nrates =" in reference else f"rates = {rates}"
    return spec_from_toml(f"""
[network]
layers = {layers}
activation = "{activation}"
path = "rate"
[learning]
{edge_rates}

init_gain = 2.0
[training]
seed = 3
{extra}
[reference]
{reference}
""", "rate-test")


def _net(reference=RESNET, **kw):
    spec = rate_spec(reference, **kw)
    return HopfieldNetwork(spec, init_params(spec, 1))


def _batch(net, n=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, net.sizes[0]))
    y = np.eye(net.spec.layers[-1])[rng.integers(0, net.spec.layers[-1], n)]
    return x, y


@pytest.mark.parametrize("kind", ["dense", "conv and skip"])
def test_phi_gradients_match_finite_differences(kind):
    net = _net("" if kind == "dense" else RESNET)
    x, _ = _batch(net)
    rng = np.random.default_rng(1)
    rates = [rng.uniform(0, 1, (len(x), n)) for n in net.sizes[1:]]
    drives = net.drives(x, rates)
    grads = net.phi_grads(x, rates)
    h = 1e-6
    for layer in range(len(rates)):                       # ∂Φ/∂s_l, summed over the batch
        d = rng.normal(size=rates[layer].shape)
        plus = [r + h * d if k == layer else r for k, r in enumerate(rates)]
        minus = [r - h * d if k == layer else r for k, r in enumerate(rates)]
        numeric = (net.phi(x, plus).sum() - net.phi(x, minus).sum()) / (2 * h)
        assert numeric == pytest.approx(np.sum(drives[layer] * d), rel=1e-7)
    for name, value in net.params.items():               # ∂Φ/∂θ
        d = rng.normal(size=value.shape)
        value += h * d
        plus = net.phi(x, rates).sum()
        value -= 2 * h * d
        minus = net.phi(x, rates).sum()
        value += h * d
        assert (plus - minus) / (2 * h) == pytest.approx(np.sum(grads[name] * d), rel=1e-7)


@pytest.mark.parametrize("setting", ["prototypical", "primitive", "cross_entropy"])
def test_bptt_is_exact(setting):
    reference = RESNET + {"prototypical": "", "primitive": 'dynamics = "primitive"',
                          "cross_entropy": 'loss = "cross_entropy"'}[setting]
    layers = "[36, 72, 27, 4, 5]" if setting == "cross_entropy" else "[36, 72, 27, 4]"
    if setting == "cross_entropy":
        reference = reference.replace("shapes = [[1, 6, 6], [2, 6, 6], [3, 3, 3], [4]]",
                                      "shapes = [[1, 6, 6], [2, 6, 6], [3, 3, 3], [4], [5]]")
        reference = reference.replace("{pre = 1, post = 3}]", "{pre = 1, post = 3}, "
                                      "{pre = 3, post = 4}]").replace(
            "rates = [0.1, 0.1, 0.1, 0.1]", "rates = [0.1, 0.1, 0.1, 0.1, 0.1]")
    net = _net(reference, layers=layers,
               extra="" if setting != "cross_entropy" else "")
    x, y = _batch(net)
    steps = 7
    grads, per_step = bptt(net, x, y, steps)

    def loss():
        return net.loss(net.relax(x, net.zero_states(len(x)), steps), y).mean()

    rng = np.random.default_rng(2)
    h = 1e-6
    for name, value in net.params.items():
        d = rng.normal(size=value.shape)
        value += h * d
        plus = loss()
        value -= 2 * h * d
        minus = loss()
        value += h * d
        numeric = (plus - minus) / (2 * h)
        assert numeric == pytest.approx(np.sum(grads[name] * d), rel=1e-7, abs=1e-12), name
    total = sum(p["params"]["W_0_1"] for p in per_step) / len(x)
    assert np.allclose(total, grads["W_0_1"])


def test_gdu_property_in_the_primitive_setting():
    net = _net(RESNET + 'dynamics = "primitive"\nepsilon = 0.5')
    x, y = _batch(net, n=3)
    errors = {}
    for beta in (1e-2, 1e-4):
        result = gdu_check(net, x, y, free_steps=250, nudge_steps=6, beta=beta)
        assert result["free_residual"] < 1e-12
        errors[beta] = {m: max(np.max(v) for v in result["summary"][m]["relative_error"].values())
                        for m in ("one_sided", "symmetric")}
    assert errors[1e-4]["symmetric"] <= 1e-5
    assert errors[1e-4]["one_sided"] <= 1e-3
    # one-sided falls linearly with β, symmetric faster
    assert 30 < errors[1e-2]["one_sided"] / errors[1e-4]["one_sided"] < 300
    assert errors[1e-2]["symmetric"] < errors[1e-2]["one_sided"] / 10


def test_estimators_point_along_the_true_gradient():
    net = _net("", activation="sigmoid")
    x, y = _batch(net, n=8)
    true, _ = bptt(net, x, y, 200)
    rng = np.random.default_rng(0)
    for estimator in ("one_sided", "random_sign", "symmetric"):
        grads, _ = ep_gradients(net, x, y, 200, 200, 0.05, estimator, rng)
        for name in true:
            a, b = grads[name].ravel(), true[name].ravel()
            assert np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b) > 0.99, (estimator, name)
    one, _ = ep_gradients(net, x, y, 200, 200, 0.05, "one_sided")
    minus, _ = ep_gradients(net, x, y, 200, 200, -0.05, "one_sided")
    sym, _ = ep_gradients(net, x, y, 200, 200, 0.05, "symmetric")
    for name in sym:                                      # symmetric = mean of ±β
        assert np.allclose(sym[name], (one[name] + minus[name]) / 2)


@pytest.mark.parametrize("estimator", ["one_sided", "symmetric"])
def test_continual_phases_telescope_to_the_ep_estimate(estimator):
    """C-EP (:func:`continual_phases`) moves the parameters at every nudged step; with a
    vanishing learning rate the steps telescope to the EP estimate of the same estimator
    (symmetric: the −β phase, then the +β phase from the free state)."""
    from eqspike.reference.learning import SGD, continual_phases

    net = _net("", activation="sigmoid")
    x, y = _batch(net, n=4)
    eps, steps, beta = 1e-6, 30, 0.2
    expected, free = ep_gradients(net, x, y, 60, steps, beta, estimator)
    before = {k: v.copy() for k, v in net.params.items()}
    seen = []
    continual_phases(net, SGD(), x, y, free, steps, beta, estimator,
                     {k: eps for k in net.params}, record=lambda sign, t, p: seen.append(sign))
    assert seen == ([-1.0] * steps if estimator == "symmetric" else []) + [1.0] * steps
    for name in expected:
        moved = (net.params[name] - before[name]) / eps
        np.testing.assert_allclose(-moved, expected[name], rtol=1e-3,
                                   atol=1e-4 * np.abs(expected[name]).max())


def test_inconsistent_layer_shapes_are_clear_errors():
    with pytest.raises(SpecError, match=r"shapes\[1\] = \[2, 5, 5\] holds 50 neurons"):
        rate_spec(RESNET.replace("[2, 6, 6]", "[2, 5, 5]"))
    with pytest.raises(ValueError, match=r"gives shape \[3, 3, 3\], but the layer has shape"):
        ConvEdge((2, 6, 6), (3, 6, 6), kernel=3, padding=1, pool=2)
    with pytest.raises(SpecError, match="receive no edge"):
        rate_spec('edges = [{pre = 0, post = 1}, {pre = 1, post = 2}]')
    with pytest.raises(SpecError, match=r"\[learning\] rates needs 4 values \(one per edge"):
        rate_spec(RESNET.replace("rates = [0.1, 0.1, 0.1, 0.1]", "rates = [0.1]"))
    with pytest.raises(SpecError, match="hard_sigmoid only"):
        spec_from_toml('[network]\nactivation = "sigmoid"', "spiking")


def test_rate_training_writes_a_run_file_and_resumes_exactly(tmp_path, data_dir):
    from eqspike.training import train as train_rate

    spec = rate_spec("batch_size = 20\nmomentum = 0.5", layers="[784, 20, 10]",
                     activation="hard_sigmoid", rates="[0.2, 0.1]",
                     extra="epochs = 2\ntrain_samples = 100").replace(
        phases={"free_steps": 8, "nudge_steps": 4})
    whole = tmp_path / "whole.h5"
    train_rate(spec, whole, data_dir=data_dir, test_samples=50, progress=False)
    run = runfile.read_run(whole)
    assert run.attrs["path"] == "rate" and len(run.metrics["epoch"]) == 2
    assert "W_0_1/0" in run.final.optimizer                    # momentum kept for resuming
    half = tmp_path / "half.h5"
    train_rate(spec.replace(training={"epochs": 1}), half, data_dir=data_dir, test_samples=50,
               progress=False)
    runfile.extend_epochs(half, 2)                       # eqspike train --resume --epochs 2
    train_rate(None, half, data_dir=data_dir, resume=True, test_samples=50, progress=False)
    resumed = runfile.read_run(half)
    for name, value in run.final.params.items():
        assert np.array_equal(value, resumed.final.params[name]), name
    assert cli.main(["evaluate", str(whole), "--test-samples", "50",
                     "--data-dir", str(data_dir)]) == 0
    with pytest.raises(runfile.RunFileError, match="would drop"):
        runfile.extend_epochs(half, 1)


def test_gdu_command_writes_hdf5_and_png(tmp_path, data_dir, capsys):
    import h5py

    out = tmp_path / "g.h5"
    assert cli.main(["gdu", "--beta", "1e-4", "--t1", "120", "--k", "5", "--batch", "4",
                     "--out", str(out), "--data-dir", str(data_dir)]) == 0
    with h5py.File(out) as f:
        assert f.attrs["format"] == "eqspike-gdu"
        assert f["bptt/params/W_1_3"].shape == (5, 64, 10)
        assert f["symmetric/states/u_1"].shape == (5, 4, 64)
        assert np.max(f["summary/symmetric/relative_error/W_0_1"][()]) < 1e-5
    assert out.with_suffix(".png").stat().st_size > 0
    assert "W_1_3" in capsys.readouterr().out


def test_bptt_baseline_and_continual_ep_train(tmp_path, data_dir):
    """The BPTT baseline and continual EP both learn (twice chance after 200 samples)."""
    from eqspike.training import train as train_rate

    base = rate_spec("batch_size = 10", layers="[784, 32, 10]", activation="hard_sigmoid",
                     rates="[0.2, 0.1]", extra="train_samples = 200").replace(
        phases={"free_steps": 10, "nudge_steps": 4})
    for name, spec, method in (("bptt", base, "bptt"),
                               ("continual", base.replace(reference={"continual": True,
                                                                     "estimator": "one_sided"}),
                                "ep")):
        result = train_rate(spec, tmp_path / f"{name}.h5", data_dir=data_dir, test_samples=200,
                            progress=False, method=method)
        assert result.test_accuracy[-1] > 0.2, name          # chance: 0.1
        assert runfile.read_run(tmp_path / f"{name}.h5").attrs["method"] == method


@pytest.mark.parametrize("pre, post, options", [
    ((1, 28, 28), (8, 14, 14), dict(kernel=5, padding=2, pool=2)),     # fmnist-conv
    ((8, 14, 14), (16, 7, 7), dict(kernel=5, padding=2, pool=2)),      # fmnist-conv
    ((1, 28, 28), (8, 14, 14), dict(kernel=3, padding=1, pool=2)),     # its first kernels
    ((8, 14, 14), (16, 7, 7), dict(kernel=3, padding=1, pool=2)),
    ((2, 9, 9), (3, 5, 5), dict(kernel=3, stride=2, padding=1)),
    ((2, 10, 10), (3, 2, 2), dict(kernel=3, stride=2, pool=2)),
    ((3, 9, 9), (2, 4, 4), dict(kernel=2, pool=2)),
    ((2, 12, 12), (3, 2, 2), dict(kernel=3, padding=1, pool=6)),
    ((2, 14, 14), (3, 2, 2), dict(kernel=3, stride=2, pool=3)),
    ((3, 11, 11), (4, 5, 5), dict(kernel=3, stride=2))])
def test_conv_edge_equals_the_im2col_oracle(pre, post, options):
    """The box-sum convolution equals the first implementation (im2col and a sparse col2im,
    pooling after the convolution) to 1e-12 relative, in all three products, and its reused
    scratch arrays carry nothing from one call, or one batch size, to the next."""
    from eqspike.reference.edges_im2col import Im2colConvEdge

    fast, oracle = ConvEdge(pre, post, **options), Im2colConvEdge(pre, post, **options)
    rng = np.random.default_rng(3)
    w = rng.normal(size=fast.weight_shape)
    x = rng.uniform(0, 1, (5, int(np.prod(pre))))
    g = rng.normal(size=(5, int(np.prod(post))))
    for got, expected in ((fast.forward(w, x), oracle.forward(w, x)),
                          (fast.backward(w, g), oracle.backward(w, g)),
                          (fast.grad(x, g), oracle.grad(x, g))):
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-12,
                                   atol=1e-12 * np.abs(expected).max())
    before = fast.forward(w, x), fast.backward(w, g), fast.grad(x, g)
    fast.forward(w, 2 * x[:3]), fast.backward(w, 2 * g[:3]), fast.grad(2 * x[:3], g[:3])
    for again, first in zip((fast.forward(w, x), fast.backward(w, g), fast.grad(x, g)), before):
        np.testing.assert_array_equal(again, first)


def test_float32_precision_follows_float64():
    """[reference] precision = "float32": parameters, inputs, states and updates stay float32
    (nothing silently promotes them), and EP's gradient agrees with float64's to float32's
    precision, from the same seed's (rounded) weights."""
    grads = {}
    for precision in ("float64", "float32"):
        spec = rate_spec(RESNET + f'precision = "{precision}"', activation="clipped_relu")
        net = HopfieldNetwork(spec, init_params(spec, 1))
        x, y = _batch(net)
        x, y = x.astype(precision), y.astype(precision)
        g, free = ep_gradients(net, x, y, 12, 4, 0.5, estimator="symmetric")
        assert {v.dtype for v in net.params.values()} == {np.dtype(precision)}
        assert {u.dtype for u in free} | {v.dtype for v in g.values()} == {np.dtype(precision)}
        grads[precision] = g
    for name, g64 in grads["float64"].items():
        np.testing.assert_allclose(grads["float32"][name], g64, rtol=0,
                                   atol=1e-4 * np.abs(g64).max() + 1e-6)
