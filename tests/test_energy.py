"""Energy accounting: counts match events, energy is counts times constants."""

from __future__ import annotations

import brian2 as b2
import numpy as np
import pytest

from eqspike import energy
from eqspike.cli import main
from eqspike.engine import RuntimeEngine
from eqspike.schedule import SAMPLE_EVAL, SAMPLE_TRAIN, phase_signals
from eqspike.spiking import build_network

from .conftest import small_spec


def _recorded_sample(kind, nudging="one_sided", input_code="rate", rule="eqspike"):
    """One sample of a small deterministic network: its counters and its recorded spikes."""
    spec = small_spec(layers=(3, 4, 2), free=12, nudge=6, readout=6).replace(
        phases={"nudging": nudging}, spiking={"input_code": input_code},
        learning={"rule": rule})
    rng = np.random.default_rng(21)
    weights = [rng.uniform(-0.3, 1, (3, 4)), rng.uniform(-0.5, 1, (4, 2))]
    biases = [rng.uniform(0, 0.3, 4), rng.uniform(0.1, 0.3, 2)]
    net = build_network(spec, 1, rates=rng.uniform(0.3, 1, (1, 3)), targets=np.eye(2)[[0]],
                        kinds=np.array([kind]), weights=weights, biases=biases)
    monitors = [b2.SpikeMonitor(g) for g in net.layers]
    net.network.add(*monitors)
    net.network.run(net.duration_steps * b2.ms, namespace={})
    events = RuntimeEngine._collect(net, 1).events[0]
    sign = phase_signals(spec, np.array([kind]))
    recorded = []
    for layer, mon in enumerate(monitors):
        for t in np.round(mon.t / b2.ms).astype(int):
            if sign["phase"][t] != 2:  # idle steps are not counted
                recorded.append((layer, t, sign["learn_sign"][t]))
    return spec, events, recorded


@pytest.mark.parametrize("kind, workload, nudging, input_code, rule", [
    (SAMPLE_TRAIN, "training", "one_sided", "rate", "eqspike"),
    (SAMPLE_TRAIN, "training", "symmetric", "rate", "eqspike"),
    (SAMPLE_EVAL, "inference", "one_sided", "rate", "eqspike"),
    (SAMPLE_TRAIN, "training", "symmetric", "graded", "eqspike"),
    (SAMPLE_EVAL, "inference", "symmetric", "graded", "eqspike"),
    (SAMPLE_TRAIN, "training", "symmetric", "rate", "continual"),
    (SAMPLE_TRAIN, "training", "symmetric", "graded", "continual")])
def test_counts_match_recorded_spikes_times_fan_out(kind, workload, nudging, input_code, rule):
    spec, events, recorded = _recorded_sample(kind, nudging, input_code, rule)
    sizes = spec.layers
    graded = input_code == "graded"
    counts = energy.spiking_counts(spec, events, workload)
    # by hand: every recorded spike delivers to its fan-out, both directions, and the
    # clamped input receives nothing; in a learning window it also fires the rule there
    # (a graded input's events fire no rule: its synapses write once per event instead)
    synaptic = plastic = input_events = 0
    for layer, _, sigma in recorded:
        up = sizes[layer + 1] if layer + 1 < len(sizes) else 0
        down = sizes[layer - 1] if layer >= 2 else 0
        synaptic += up + down
        input_events += layer == 0
        if sigma != 0:
            plastic += (0 if graded and layer == 0 else up)
            plastic += (0 if graded and layer == 1 else sizes[layer - 1]) if layer >= 1 else 0
    assert len(recorded) > 0
    assert counts["spikes"].sum() == len(recorded)
    assert counts["trace_updates"].sum() == len(recorded) - (input_events if graded else 0)
    assert counts["synaptic_events"].sum() == synaptic
    assert counts["plasticity_events"].sum() == plastic
    nudged = spec.nudged_phases * spec.phases.nudge_steps
    steps = spec.phases.free_steps + (nudged if workload == "training" else 0)
    per_step = sizes[1:] if graded else sizes
    assert counts["neuron_updates"].sum() == sum(per_step) * steps + (sizes[0] if graded else 0)
    # writes: an accumulating rule writes every weight once a sample, a graded input's
    # synapses once per event, the continual rule at each plasticity event (counted there);
    # biases once a sample, or the continual rule's at every step of the nudged phases
    continual = rule == "continual"
    first_pair = input_events * 4 if graded else (0 if continual else 3 * 4)
    biases = (4 + 2) * (2 * spec.phases.nudge_steps if continual else 1)
    expected_writes = (first_pair + (0 if continual else 4 * 2) + biases
                       if workload == "training" else 0)
    assert counts["weight_writes"].sum() == expected_writes
    if graded:
        assert 0 < input_events <= sizes[0]  # one event per non-zero input, once a sample
    if workload == "inference":
        assert plastic == 0


def test_energy_is_counts_times_constants():
    spec, events, _ = _recorded_sample(SAMPLE_TRAIN)
    chip = energy.Device("chip", "neuromorphic", synop=2.0, spike=3.0, neuron_update=5.0,
                         synaptic_update=7.0)
    counts = energy.spiking_counts(spec, events, "training")
    dense = energy.dense_counts(spec, "training")
    joules = energy.device_energy(chip, counts, dense)
    total = sum(v.sum() for v in joules.values())
    by_hand = (2.0 * counts["synaptic_events"].sum() + 3.0 * counts["spikes"].sum()
               + 5.0 * counts["neuron_updates"].sum()
               + 7.0 * (counts["plasticity_events"].sum() + counts["weight_writes"].sum()))
    assert total == pytest.approx(by_hand)
    gpu = energy.Device("g", "conventional", mac=11.0, byte=13.0)
    g = energy.device_energy(gpu, counts, dense)
    assert sum(v.sum() for v in g.values()) == pytest.approx(
        11.0 * (dense["macs"].sum() + dense["activations"].sum()) + 13.0 * dense["bytes"].sum())


def test_dense_counts_follow_their_formula():
    spec = small_spec(layers=(5, 4, 3), free=10, nudge=4, readout=4)
    inf = energy.dense_counts(spec, "inference", batch=2)
    # input drive once (5*4) + 10 steps x 2 products of the 4x3 pair
    assert inf["macs"].sum() == 5 * 4 + 10 * 2 * 4 * 3
    assert inf["activations"].sum() == 10 * (4 + 3)
    train = energy.dense_counts(spec, "training", batch=2)
    # 14 steps, plus two outer products and the update per pair, plus the biases
    assert train["macs"].sum() == 5 * 4 + 14 * 2 * 4 * 3 + 3 * (5 * 4 + 4 * 3) + (4 + 3)


def test_presets_have_sources_and_bad_devices_are_named(tmp_path):
    assert {"loihi", "spinnaker2", "gpu", "cpu", "arm", "asic45"} <= set(energy.DEVICES)
    assert energy.DEVICES["loihi"].synop == pytest.approx(23.6e-12)
    assert all(d.source for d in energy.DEVICES.values())
    bad = tmp_path / "bad.toml"
    bad.write_text('[x]\nkind = "neuromorphic"\nsynop = -1.0\n')
    with pytest.raises(energy.EnergyError, match="synop"):
        energy.load_devices(bad)
    bad.write_text('[x]\nkind = "quantum"\n')
    with pytest.raises(energy.EnergyError, match="kind 'quantum'"):
        energy.load_devices(bad)
    bad.write_text('[x]\nkind = "conventional"\nwatts = 3\n')
    with pytest.raises(energy.EnergyError, match="unknown field"):
        energy.load_devices(bad)


def test_energy_cli_on_a_run_file(tmp_path, data_dir, capsys):
    run = tmp_path / "r.h5"
    assert main(["train", "--network", "tiny", "--mode", "runtime", "--train-samples", "20",
                 "--test-samples", "20", "--data-dir", str(data_dir), "--out", str(run),
                 "--quiet"]) == 0
    devices = tmp_path / "mine.toml"
    devices.write_text('[mychip]\nkind = "neuromorphic"\nsynop = 1e-12\nneuron_update = 1e-12\n'
                       'source = "made up"\n')
    png = tmp_path / "energy.png"
    assert main(["energy", str(run), "--devices-file", str(devices), "--device", "mychip",
                 "--device", "loihi", "--out", str(png), "--breakdown"]) == 0
    out = capsys.readouterr().out
    assert "mychip" in out and "loihi" in out and "Assumptions" in out
    assert "plasticity_events" in out and "spikes per sample" in out
    assert png.stat().st_size > 1000
    assert main(["energy", str(run), "--device", "nope"]) == 2
    assert "unknown device(s) nope" in capsys.readouterr().err
    energy.DEVICES.pop("mychip")
