"""The run files behind the documented results (``results/*.h5``) are intact and hold what
``results/README.md`` says of them: each reads back with every checksum verified (HDF5
Fletcher-32 on each dataset, SHA-256 of the network definition), names its network, and
records the epochs and the last test accuracy its row gives, on all 10,000 test images; a
file listed is committed and a file committed is listed."""

from __future__ import annotations

import re

import pytest

from eqspike.runfile import is_sidecar, read_run

from .conftest import ROOT

RESULTS = ROOT / "results"


def _rows():
    """The table of results/README.md: file, network, status, epochs, last test accuracy."""
    rows = []
    for line in (RESULTS / "README.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 5 or not cells[0].startswith("`") or not cells[0].endswith(".h5`"):
            continue
        accuracy = re.search(r"([\d.]+)%", cells[4])
        rows.append((cells[0].strip("`"), cells[1].strip("`"), cells[2], int(cells[3]),
                     float(accuracy.group(1))))
    return rows


ROWS = _rows()


def test_every_committed_run_file_is_listed_and_every_listed_one_is_there():
    committed = {p.name for p in RESULTS.glob("*.h5") if not is_sidecar(p)}
    assert ROWS, "results/README.md lists no run file"
    assert committed == {row[0] for row in ROWS}


@pytest.mark.parametrize("name, network, status, epochs, accuracy", ROWS,
                         ids=[row[0] for row in ROWS])
def test_a_run_file_holds_what_its_row_says(name, network, status, epochs, accuracy):
    run = read_run(RESULTS / name)
    assert run.attrs["network"] == network
    assert run.attrs["status"] == status
    assert len(run.metrics["epoch"]) == epochs
    assert run.final_name == f"epoch_{epochs:04d}"
    assert run.metrics["test_images"][-1] == 10000
    assert round(100 * float(run.metrics["test_accuracy"][-1]), 2) == accuracy
