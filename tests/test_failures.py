"""Every expected failure: one line on stderr, exit status 2, and nothing created or changed.

Each case runs the command line in this process (``eqspike.cli.main``) in a folder that
holds one finished run; afterwards the folder must hold the same files with the same
contents. The table of cases is also what docs/cli.md's list of refusals shows.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from eqspike import runfile
from eqspike.cli import main
from eqspike.spec import load_network
from eqspike.training import train

from .conftest import DATA_DIR, ROOT


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished tiny run (2 epochs of 20 samples, runtime mode), made once."""
    if DATA_DIR is None:
        pytest.skip("the MNIST files are not available (set EQSPIKE_DATA)")
    path = tmp_path_factory.mktemp("finished") / "run.h5"
    spec = load_network("tiny").replace(training={"train_samples": 20, "chunk_samples": 10,
                                                  "epochs": 2})
    train(spec, path, data_dir=DATA_DIR, mode="runtime", test_samples=10, progress=False)
    return path


@pytest.fixture
def work(tmp_path, finished_run, monkeypatch):
    """A folder holding a copy of the finished run (and its sidecar), as the cwd."""
    for p in (finished_run, runfile.latest_path(finished_run)):
        shutil.copy(p, tmp_path / p.name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EQSPIKE_DATA", str(DATA_DIR))
    return tmp_path


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest()
                                         if p.is_file() else "dir")
            for p in sorted(folder.rglob("*"))}


def _network_file(folder: Path, field: str, value: str) -> str:
    """tiny.toml with one field replaced (in the table where it is)."""
    text = (ROOT / "networks" / "tiny.toml").read_text()
    lines = [f"{field} = {value}" if line.split("=")[0].strip() == field else line
             for line in text.splitlines()]
    if not any(line.startswith(f"{field} =") for line in lines):      # a [spiking] field
        lines.insert(lines.index("[spiking]") + 1, f"{field} = {value}")
    path = folder / "bad.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _nan_checkpoint(folder: Path) -> None:
    """Overwrite the last epoch's W_1_2 with NaN (rewriting the file, checksums valid)."""
    with h5py.File(folder / "run.h5", "a") as f:
        ds = f["checkpoints/epoch_0002/W_1_2"]
        data = ds[()]
        data[0, 0] = np.nan
        ds[...] = data
    with h5py.File(folder / "run.latest.h5", "a") as f:
        ds = f["checkpoints/latest/W_1_2"]
        data = ds[()]
        data[0, 0] = np.nan
        ds[...] = data


def _flip_a_byte(folder: Path) -> None:
    """Flip one byte inside a checkpoint's weights, on disk (as a damaged sector would)."""
    with h5py.File(folder / "run.h5", "r") as f:
        offset = f["checkpoints/epoch_0002/W_0_1"].id.get_chunk_info(0).byte_offset
    with open(folder / "run.h5", "r+b") as handle:
        handle.seek(offset + 100)
        byte = handle.read(1)
        handle.seek(offset + 100)
        handle.write(bytes([byte[0] ^ 0x10]))


def _read_only_folder(folder: Path) -> str:
    """A folder that refuses new files: chmod 555, or (root ignores modes) /sys."""
    target = folder / "ro"
    target.mkdir()
    target.chmod(0o555)
    try:
        (target / "probe").touch()
    except PermissionError:
        return str(target / "run.h5")
    (target / "probe").unlink()
    target.chmod(0o755)
    return "/sys/eqspike-run.h5"


def _full_disk(monkeypatch):
    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(runfile.os, "fsync", no_space)


TRAIN = ["train", "--network", "tiny", "--mode", "runtime", "--train-samples", "10",
         "--test-samples", "10", "--quiet"]

#: (name, argv (a function of the folder), what to prepare, the message's key words).
CASES = [
    ("out exists", lambda d: TRAIN + ["--out", "run.h5"], None, "exists; give --overwrite"),
    ("out is a directory", lambda d: TRAIN + ["--out", str(d)], None, "is a directory"),
    ("out in a read-only directory", lambda d: TRAIN + ["--out", _read_only_folder(d)], None,
     "cannot write in"),
    ("full disk", lambda d: TRAIN + ["--out", "new.h5"], _full_disk,
     "No space left on device"),
    ("EQSPIKE_THREADS=-3", lambda d: TRAIN + ["--out", "new.h5"],
     lambda mp: mp.setenv("EQSPIKE_THREADS", "-3"), "EQSPIKE_THREADS='-3'"),
    ("EQSPIKE_THREADS=two", lambda d: TRAIN + ["--out", "new.h5"],
     lambda mp: mp.setenv("EQSPIKE_THREADS", "two"), "expected an integer >= 0"),
    ("--threads -1", lambda d: TRAIN + ["--threads", "-1", "--out", "new.h5"], None,
     "--threads: expected an integer >= 0"),
    ("beta = nan", lambda d: TRAIN[:2] + [_network_file(d, "beta", "nan")] + TRAIN[3:]
     + ["--out", "new.h5"], None, "beta: expected a finite number, got nan"),
    ("beta = inf", lambda d: TRAIN[:2] + [_network_file(d, "beta", "inf")] + TRAIN[3:]
     + ["--out", "new.h5"], None, "beta: expected a finite number, got inf"),
    ("rates with nan", lambda d: TRAIN[:2] + [_network_file(d, "rates", "[nan, 0.05]")]
     + TRAIN[3:] + ["--out", "new.h5"], None, "rates[0]: expected a finite number"),
    ("tau_u = -inf", lambda d: TRAIN[:2] + [_network_file(d, "tau_u", "-inf")] + TRAIN[3:]
     + ["--out", "new.h5"], None, "tau_u: expected a finite number"),
    ("unknown network", lambda d: ["train", "--network", "nope", "--out", "new.h5"], None,
     "unknown network 'nope'"),
    ("missing data", lambda d: TRAIN + ["--data-dir", str(d / "nowhere"), "--no-download",
                                        "--out", "new.h5"], None, "nowhere"),
    ("NaN checkpoint: evaluate", lambda d: ["evaluate", "run.h5", "--mode", "runtime"],
     "nan", "[checkpoint epoch_0002]: W_1_2 holds 1 non-finite value"),
    ("NaN checkpoint: energy", lambda d: ["energy", "run.h5", "--device", "loihi"], "nan",
     "[checkpoint epoch_0002]: W_1_2 holds 1 non-finite value"),
    ("NaN checkpoint: resume", lambda d: ["train", "--resume", "run.h5", "--epochs", "3",
                                          "--mode", "runtime"], "nan",
     "[checkpoint latest]: W_1_2 holds 1 non-finite value"),
    ("flipped byte", lambda d: ["evaluate", "run.h5", "--mode", "runtime"], "flip",
     "damaged"),
    ("not HDF5", lambda d: ["evaluate", str(ROOT / "README.md")], None,
     "not a readable HDF5 file"),
    ("no such run", lambda d: ["evaluate", "missing.h5"], None, "no such run file"),
    ("no such checkpoint", lambda d: ["evaluate", "run.h5", "--checkpoint", "epoch_0009"],
     None, "no checkpoint 'epoch_0009'"),
    ("resume with other threads", lambda d: ["train", "--resume", "run.h5", "--threads", "2"],
     None, "started with 0 thread(s)"),
    ("resume with --overwrite", lambda d: ["train", "--resume", "run.h5", "--overwrite"], None,
     "takes no --out, --overwrite"),
    ("resume to fewer epochs", lambda d: ["train", "--resume", "run.h5", "--epochs", "1"],
     None, "would drop some"),
    ("--watts nan", lambda d: ["energy", "run.h5", "--measure", "--watts", "nan"], None,
     "--watts: expected a finite number > 0"),
    ("gdu --beta nan", lambda d: ["gdu", "--beta", "nan"], None,
     "--beta: expected a finite number > 0"),
    ("--batch not measured", lambda d: ["energy", "run.h5", "--measure", "--watts", "5",
                                        "--batch", "7"], None,
     "--batch 7 is not among --measure-batches"),
    ("unknown device", lambda d: ["energy", "run.h5", "--device", "quantum"], None,
     "unknown device(s) quantum"),
    ("sidecars only", lambda d: ["evaluate", "run.latest.h5"], None, "no run file among"),
    ("figure into a read-only folder", lambda d: ["energy", "run.h5", "--device", "loihi",
                                                  "--out", _read_only_folder(d) + ".png"],
     None, "Permission denied"),
]


@pytest.mark.parametrize("name, argv, prepare, message", CASES, ids=[c[0] for c in CASES])
def test_an_expected_failure_is_one_line_exit_2_and_creates_nothing(
        name, argv, prepare, message, work, monkeypatch, capsys):
    if prepare == "nan":
        _nan_checkpoint(work)
    elif prepare == "flip":
        _flip_a_byte(work)
    elif prepare is not None:
        prepare(monkeypatch)
    arguments = argv(work)
    before = _snapshot(work)
    try:
        status = main(arguments)
    except SystemExit as exc:                 # argparse's own errors
        status = exc.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2, err
    assert len(lines) == 1 and ": error: " in lines[0], err
    assert message in lines[0], lines[0]
    assert "Traceback" not in err
    assert _snapshot(work) == before, "a failure created or changed a file"


def test_overwrite_replaces_an_existing_run(work, capsys):
    assert main(TRAIN + ["--out", "run.h5", "--overwrite"]) == 0
    run = runfile.read_run(work / "run.h5")
    assert list(run.metrics["train_samples"]) == [10]


def test_a_programming_error_keeps_its_traceback(work, monkeypatch):
    """An error the code did not expect is not disguised as a one-line user error."""
    from eqspike import cli

    def broken(args):
        raise ValueError("a bug")

    monkeypatch.setattr(cli, "_evaluate", broken)
    with pytest.raises(ValueError, match="a bug"):
        main(["evaluate", "run.h5"])


def test_a_full_disk_mid_run_keeps_the_last_complete_state(work, monkeypatch, capsys):
    """The disk fills after the run file exists: one line, and the file is intact."""
    calls = []
    fsync = os.fsync

    def fills_up(fd):
        calls.append(fd)
        if len(calls) > 2:                       # the run file and one sidecar went through
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        fsync(fd)

    monkeypatch.setattr(runfile.os, "fsync", fills_up)
    assert main(TRAIN + ["--out", "mid.h5", "--chunk-samples", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert "No space left on device" in err and len(err.splitlines()) == 1
    run = runfile.read_run(work / "mid.h5")     # readable, its initial checkpoint intact
    assert run.attrs["status"] == "running" and "initial" in run.checkpoints
    assert not list(work.glob("*.tmp"))


def test_commands_taking_many_runs_skip_baseline_and_curve_files(work, capsys):
    """``runs/*.h5`` after ``--measure`` and ``--versus-steps``: the baseline file and the
    energy-accuracy curve beside the run are skipped with a note, like the sidecar."""
    from eqspike.energy.baseline import Baseline, Measurement, save_baseline
    from eqspike.energy.curve import EnergyCurve, save_curve

    save_baseline(Baseline("cpu", "here", "numpy", "float32", "1", "stated", "stated 5 W",
                           "tiny", (784, 32, 10), 12, 6, "symmetric",
                           [Measurement("inference", 1, 10, 0.1, 0.5)]),
                  work / "run.baseline-cpu.h5")
    save_curve(EnergyCurve("tiny", 1.0, 12, "gpu", [4], [0.5], [[1.0]], {"loihi": [1e-6]}),
               work / "run.energy-vs-steps.h5")
    paths = sorted(str(p) for p in work.glob("*.h5"))
    assert len(paths) == 4
    assert main(["energy", *paths, "--device", "loihi", "--out", str(work / "e.png")]) == 0
    out, err = capsys.readouterr()
    assert out.count("J/inference") == 1
    assert err.count("skipping") == 3
    assert "a measured baseline, not a run file" in err
    assert "an energy-accuracy curve, not a run file" in err
