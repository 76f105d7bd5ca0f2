"""Results that must not claim more than they have: a failed fit says so, and an energy
preset whose sources disagree shows the band they imply."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from eqspike import energy
from eqspike.cli import main
from eqspike.plasticity.window import _write_fits_csv, describe_fit, fit_exponentials
from eqspike.spec import load_network
from eqspike.training import train

DT = np.arange(-10, 11)


def test_an_exponential_kernel_is_fitted():
    mean = np.where(DT > 0, 2e-3 * np.exp(-DT / 4.0), -1e-3 * np.exp(DT / 6.0))
    fit = fit_exponentials(DT, mean)
    assert fit["plus"]["fitted"] and fit["minus"]["fitted"]
    assert fit["plus"]["tau"] == pytest.approx(4.0, rel=1e-4)
    assert fit["minus"]["A"] == pytest.approx(-1e-3, rel=1e-4)
    assert describe_fit(fit["plus"], "+").startswith("A+ +2.000e-03")


def test_a_biphasic_kernel_is_not_fitted_and_its_values_are_reported(tmp_path):
    """The continual rule's kernel: potentiation at |Δt| = 1, depression beyond."""
    mean = np.where(np.abs(DT) == 1, 7.5e-4, -1.5e-4 * 0.8 ** (np.abs(DT) - 2))
    mean[DT == 0] = 0.0
    fit = fit_exponentials(DT, mean)
    for branch in ("plus", "minus"):
        assert not fit[branch]["fitted"]
        assert "changes sign" in fit[branch]["note"]
    text = describe_fit(fit["plus"], "+")
    assert text.startswith("+: not fitted") and "+1: +7.5e-04" in text and "+2: -1.5e-04" in text
    path = tmp_path / "fits.csv"
    _write_fits_csv(path, {"protocol": fit})
    rows = list(csv.DictReader(path.open()))
    assert [r["status"] for r in rows] == ["not fitted", "not fitted"]
    assert rows[0]["A"] == "" and rows[0]["tau"] == ""           # no parameters to misread
    assert rows[0]["kernel"].startswith("1:7.5")


def test_a_fit_whose_errors_swamp_its_values_is_not_fitted():
    rng = np.random.default_rng(3)
    mean = rng.normal(0.0, 1e-3, DT.size) + 1e-5 * np.exp(-np.abs(DT) / 3.0)
    mean[np.abs(DT) == 1] = 1e-5
    fit = fit_exponentials(DT, mean, np.full(DT.size, 1e-3))
    assert not fit["plus"]["fitted"] and not fit["minus"]["fitted"]


def test_a_device_with_disagreeing_sources_has_a_band():
    chip = energy.Device("chip", "neuromorphic", synop=2.0, spike=3.0, neuron_update=5.0,
                         synaptic_update=7.0, alternatives=(("synop", 5.0, "another paper"),
                                                            ("synop", 1.0, "a third")))
    low, high = chip.bounds()
    assert (low.synop, high.synop) == (1.0, 5.0)
    assert (low.spike, high.spike) == (3.0, 3.0)
    with pytest.raises(energy.EnergyError, match="alternative"):
        energy.Device("bad", "neuromorphic", alternatives=(("watts", 1.0, "x"),))
    with pytest.raises(energy.EnergyError, match="alternative"):
        energy.Device("bad", "neuromorphic", alternatives=(("synop", float("nan"), "x"),))


def test_presets_carry_every_published_figure_with_its_source():
    spinnaker2, truenorth = energy.DEVICES["spinnaker2"], energy.DEVICES["truenorth"]
    assert spinnaker2.synop == 450e-12 and ("synop", 10e-12) == spinnaker2.alternatives[0][:2]
    assert "Tang" in spinnaker2.alternatives[0][2]
    assert truenorth.synop == 2.5e-12 and ("synop", 26e-12) == truenorth.alternatives[0][:2]
    assert "Merolla" in truenorth.alternatives[0][2]


def test_the_report_prints_the_band_not_one_number(tmp_path, data_dir, capsys):
    run = tmp_path / "r.h5"
    spec = load_network("tiny").replace(training={"train_samples": 10, "chunk_samples": 10})
    train(spec, run, data_dir=data_dir, mode="runtime", test_samples=10, progress=False)
    report = energy.energy_report(run, ["spinnaker2", "loihi"])
    low, high = report.band("spinnaker2", "inference")
    counts = report.counts["inference"]
    # the band's width is the synaptic events priced at 450 pJ instead of 10 pJ
    assert high - low == pytest.approx(counts["synaptic_events"].sum() * 440e-12, rel=1e-9)
    assert low < report.total("spinnaker2", "inference") <= high
    assert report.band("loihi", "inference") is None
    assert main(["energy", str(run), "--device", "spinnaker2", "--out",
                 str(tmp_path / "e.png")]) == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("spinnaker2"))
    assert f"{low:.2e}-{high:.2e}" in line
    assert "sources disagree" in out and "Tang et al." in out
