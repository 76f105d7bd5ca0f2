"""Network definitions: named files load; bad ones fail early, naming the field."""

from __future__ import annotations

import pytest

from eqspike.spec import SpecError, available_networks, load_network, spec_from_toml


def test_named_networks_load():
    names = set(available_networks())
    assert {"mnist", "tiny", "mnist-rate", "gdu", "deep", "fmnist-conv"} <= names
    for name in names:
        load_network(name)
    spec = load_network("mnist")
    assert spec.layers == (784, 500, 10) and spec.phases.nudging == "symmetric"
    assert spec.steps_per_sample == spec.phases.free_steps + 2 * spec.phases.nudge_steps
    one_sided = spec.replace(phases={"nudging": "one_sided"})
    assert one_sided.steps_per_sample == spec.phases.free_steps + spec.phases.nudge_steps
    assert load_network("fmnist-conv").edges[3].pre == 1   # the skip coupling


def test_to_toml_round_trips_every_field():
    spec = load_network("mnist").replace(training={"epochs": 7}, learning={"rates": [0.5, 0.25]})
    again = spec_from_toml(spec.to_toml(), name=spec.name, stored=True)
    assert again == spec


def test_unknown_network_lists_valid_names():
    with pytest.raises(SpecError, match=r"unknown network 'nope'; valid: .*mnist.*tiny"):
        load_network("nope")


def test_missing_toml_path(tmp_path):
    with pytest.raises(SpecError, match="does not exist"):
        load_network(tmp_path / "absent.toml")


@pytest.mark.parametrize("text, message", [
    ("[network]\nlayers = [784, 10]\nsize = 3", r"unknown field\(s\) size in \[network\]; valid"),
    ("[netwrk]\nlayers = [4, 2]", r"unknown section\(s\) netwrk; valid: network"),
    ("[spiking]\ncode = 'poisson'", r"\[spiking\] code: 'poisson' is not one of sigma_delta, bernoulli"),
    ("[phases]\nbeta = -1.0", r"\[phases\] beta: -1.0 is below the minimum"),
    ("[phases]\nfree_steps = 'many'", r"\[phases\] free_steps: expected an integer, got a string"),
    ("[network]\nlayers = [784, 500, 10]\n[learning]\nrates = [0.1]",
     r"\[learning\] rates needs 2 values"),
    ("[network]\nlayers = [784]", "at least 2 layers"),
    ("[spiking]\nreadout_steps = 5\n[phases]\nfree_steps = 10\nnudge_steps = 20",
     "nudge_steps .20. exceeds free_steps"),
    ("[network\nlayers = 3", "not valid TOML"),
    ("network = 3", r"\[network\] must be a table"),
])
def test_bad_fields_name_the_field(text, message):
    with pytest.raises(SpecError, match=message):
        spec_from_toml(text, name="bad")


def test_replace_validates_and_keeps_the_rest():
    spec = load_network("mnist")
    short = spec.replace(training={"epochs": 3})
    assert short.training.epochs == 3 and short.layers == spec.layers
    with pytest.raises(SpecError, match="epochs"):
        spec.replace(training={"epochs": 0})


def test_structure_key_ignores_run_time_parameters():
    spec = load_network("mnist")
    assert spec.structure_key() == spec.replace(learning={"rates": [0.1, 0.2]},
                                                training={"seed": 9}).structure_key()
    assert spec.structure_key() != spec.replace(phases={"beta": 0.5}).structure_key()


def test_one_graph_for_both_engines_and_older_files_keep_working():
    """[network] shapes and edges describe the graph both engines read; eqspike 0.1's
    [reference] shapes, edges and rates are read as [network] shapes, edges and
    [learning] rates, and a spec written back uses the new places. A run file of 0.1
    wrote both rates (the [reference] ones are the rate run's); a network file that gives
    two values for one field is refused."""
    text = """
[network]
layers = [784, 64, 32, 10]
path = "rate"
activation = "sigmoid"
[learning]
rates = [0.1, 0.1, 0.1]
[reference]
edges = [{pre = 0, post = 1}, {pre = 1, post = 2}, {pre = 2, post = 3}, {pre = 1, post = 3}]
rates = [0.05, 0.05, 0.05, 0.04]
"""
    old = spec_from_toml(text, "old", stored=True)
    with pytest.raises(SpecError, match=r"\[reference\] rates \(eqspike 0.1's spelling\) and "
                                        r"\[learning\] rates give two values"):
        spec_from_toml(text, "old")
    assert spec_from_toml(text.replace("rates = [0.1, 0.1, 0.1]\n", ""), "old") == old
    assert old.edges[3].pre == 1 and old.edges[3].post == 3
    assert old.learning.rates == (0.05, 0.05, 0.05, 0.04)
    again = spec_from_toml(old.to_toml(), "old", stored=True)
    assert again == old
    assert "edges = " in old.to_toml().split("[phases]")[0]        # written in [network]
    chain = load_network("mnist")
    assert [(e.pre, e.post, e.kind) for e in chain.edges] == [(0, 1, "dense"), (1, 2, "dense")]
    assert chain.shapes == ((784,), (500,), (10,))


def _spiking_graph(edges: str):
    return spec_from_toml(f"""
[network]
layers = [16, 16, 4]
shapes = [[1, 4, 4], [1, 4, 4], [4]]
edges = {edges}
[learning]
rates = {[0.1] * (edges.count("pre"))}
bias_rates = [0.1, 0.1]
""", "spiking-graph")


def test_the_spiking_engine_refuses_a_conv_edge_for_a_rule_it_cannot_build():
    spec = _spiking_graph('[{pre = 0, post = 1, kind = "conv", padding = 1}, {pre = 1, post = 2}]')
    assert spec.edges[0].kind == "conv"
    assert spec.replace(learning={"rule": "continual"}).learning.rule == "continual"
    with pytest.raises(SpecError, match="edges.0. is a conv edge between spiking layers: .* "
                                        "rule = 'end_of_phase' is not built for conv edges"):
        spec.replace(learning={"rule": "end_of_phase"})


def test_two_edges_between_the_same_layers_are_refused():
    with pytest.raises(SpecError, match="more than one edge joins layers 0 -> 1"):
        _spiking_graph('[{pre = 0, post = 1}, {pre = 1, post = 2}, {pre = 0, post = 1}]')


def test_the_spiking_engine_takes_a_skip_coupling():
    spec = _spiking_graph('[{pre = 0, post = 1}, {pre = 1, post = 2}, {pre = 0, post = 2}]')
    assert [(e.pre, e.post) for e in spec.edges] == [(0, 1), (1, 2), (0, 2)]


def test_one_seed_gives_the_same_initial_weights_on_both_engines():
    """One initialiser: the spiking and the rate network of one graph start equal."""
    import numpy as np

    from eqspike.parameters import as_lists, init_parameters
    from eqspike.reference.network import init_params

    spiking = load_network("mnist").replace(network={"layers": [784, 40, 10]},
                                            learning={"rates": [0.1, 0.1],
                                                      "bias_rates": [0.1, 0.1]})
    rate = load_network("mnist-rate").replace(network={"layers": [784, 40, 10]})
    weights, biases = as_lists(spiking, init_parameters(spiking, 7))
    params = init_params(rate, 7)
    for name, value in zip(["W_0_1", "W_1_2", "b_1", "b_2"], weights + biases):
        np.testing.assert_array_equal(params[name], value)
    # U(-g/sqrt(fan_in), g/sqrt(fan_in)): the bound of each draw
    assert np.abs(weights[0]).max() <= 1 / np.sqrt(784) and np.abs(biases[1]).max() <= 1 / np.sqrt(40)


@pytest.mark.parametrize("change, message", [
    ({"kernel": 40}, "a 40x40 kernel does not fit"),
    ({"pool": 3}, "pooling 3 does not divide"),
    ({"padding": 0}, "gives shape [2, 13, 13], but the layer has shape [2, 14, 14]"),
])
def test_a_conv_edges_geometry_is_checked_for_the_spiking_engine_too(change, message):
    """The one geometry check (spec.conv_output) on a spiking network, at load: the
    spiking engine would otherwise build a cropped or scrambled convolution."""
    edge = {"pre": 0, "post": 1, "kind": "conv", "kernel": 3, "padding": 1, "pool": 2,
            **change}
    text = f"""
[network]
layers = [784, 392, 10]
shapes = [[1, 28, 28], [2, 14, 14], [10]]
edges = [{{{", ".join(f"{k} = {v!r}".replace("'", '"') for k, v in edge.items())}}},
         {{pre = 1, post = 2}}]
[spiking]
input_code = "graded"
[learning]
rates = [0.05, 0.05]
bias_rates = [0.05, 0.05]
"""
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        spec_from_toml(text, "geometry")
