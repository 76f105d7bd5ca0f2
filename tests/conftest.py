"""Shared fixtures: small specs, the real-data directory, and a Brian2 device reset."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from eqspike.spec import spec_from_toml

ROOT = Path(__file__).resolve().parent.parent


def small_spec(layers=(3, 4, 2), free=12, nudge=6, readout=6, code="sigma_delta", beta=1.0,
               rates=None, extra=""):
    """A small network definition as a spec (tests build their own shapes)."""
    rates = rates or [0.05] * (len(layers) - 1)
    text = f"""
[network]
layers = {list(layers)}
[spiking]
code = "{code}"
readout_steps = {readout}
[phases]
free_steps = {free}
nudge_steps = {nudge}
beta = {beta}
[learning]
rates = {rates}
bias_rates = {rates}
{extra}
"""
    return spec_from_toml(text, name="test")


def _find_data_dir():
    for candidate in (os.environ.get("EQSPIKE_DATA"), ROOT.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "mnist").is_dir():
            return Path(candidate).resolve()   # absolute: some tests change directory
    return None


#: The real datasets: $EQSPIKE_DATA, else ../shared/data beside the repository (or None).
DATA_DIR = _find_data_dir()


@pytest.fixture
def data_dir():
    """The real datasets (skips the test where they are not available)."""
    if DATA_DIR is None:
        pytest.skip("the MNIST files are not available (set EQSPIKE_DATA)")
    return DATA_DIR


@pytest.fixture(autouse=True)
def runtime_device():
    """Every test starts in Brian2's runtime mode with the numpy target."""
    import brian2 as b2

    b2.set_device("runtime")
    b2.prefs.codegen.target = "numpy"
    yield


@pytest.fixture(scope="session")
def build_cache(tmp_path_factory):
    """One standalone build cache for the session: builds are keyed by the network's
    structure and the chunk size, so tests of one small network share its compile."""
    return tmp_path_factory.mktemp("builds")
