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
#: ``eqspike train`` of a network file written into the folder (``_write``), in runtime mode.
def _train_file(text, *more):
    return lambda d: ["train", "--network", _write(d, "net.toml", text), "--mode", "runtime",
                      "--train-samples", "10", "--test-samples", "10", "--quiet",
                      "--out", "new.h5", *more]


def _write(folder: Path, name: str, text: str) -> str:
    """A file of the test's own in the folder (before the snapshot: it may stay)."""
    path = folder / name
    path.write_text(text)
    return str(path)


#: A small conv network on MNIST (the geometry cases change one field of it).
CONV = """
[network]
layers = [784, 392, 10]
shapes = [[1, 28, 28], [2, 14, 14], [10]]
edges = [{pre = 0, post = 1, kind = "conv", kernel = 3, padding = 1, pool = 2},
         {pre = 1, post = 2}]
[spiking]
input_code = "graded"
[learning]
rates = [0.05, 0.05]
bias_rates = [0.05, 0.05]
"""

#: A delta-coded variant of the tiny network.
DELTA = """
[network]
layers = [784, 32, 10]
[spiking]
code = "delta"
input_code = "graded"
[learning]
rule = "delta"
rates = [0.05, 0.05]
bias_rates = [0.05, 0.05]
"""

#: The tiny sweep of tests/test_sweep.py, for the sweep cases to change.
SWEEP = """
[sweep]
network = "tiny"
seeds = [1]
test_samples = 10
mode = "runtime"
[vary]
"phases.beta" = [0.5]
[set]
"training.train_samples" = 10
"""


def _sweep(d, text):
    return ["sweep", _write(d, "s.toml", text), "--out", str(d / "sw"), "--quiet"]


def _copy(source: str, target: str):
    """Prepare: copy a file of the folder (a run file named like a sidecar, say)."""
    def prepare(folder: Path, mp):
        shutil.copy(folder / source, folder / target)
    return prepare


def _touch(name: str, text: str = "x"):
    def prepare(folder: Path, mp):
        (folder / name).write_text(text)
    return prepare


def _gdu_file(name: str):
    """Prepare: an existing GDU file (its format attribute) to be refused without
    --overwrite."""
    def prepare(folder: Path, mp):
        with h5py.File(folder / name, "w") as f:
            f.attrs["format"] = "eqspike-gdu"
    return prepare


def _unfinished(name: str):
    """Prepare: a run file with no finished epoch (the run's first state)."""
    def prepare(folder: Path, mp):
        spec = load_network("tiny")
        from eqspike.parameters import as_lists, init_parameters
        weights, biases = as_lists(spec, init_parameters(spec, 1))
        runfile.create_run(folder / name, spec, 1, weights, biases)
    return prepare


def _damaged_index(folder: Path, mp):
    (folder / "sw").mkdir()
    (folder / "sw" / "index.csv").write_text("point,status\np1,complete\n")


def _baseline_of_another_network(folder: Path, mp):
    from eqspike.energy.baseline import Baseline, Measurement, save_baseline
    save_baseline(Baseline("cpu", "here", "numpy", "float32", "1", "stated", "stated 5 W",
                           "mnist", (784, 500, 10), 20, 8, "symmetric",
                           [Measurement("inference", 50, 10, 0.1, 0.5)]),
                  folder / "other.baseline-cpu.h5")


def _held_claim(name: str):
    """Prepare: another writer holds the claim on the run (the guard's lock)."""
    def prepare(folder: Path, mp):
        from eqspike import guard
        context = guard.claim(folder / name)
        context.__enter__()
        _HELD.append(context)
    return prepare


_HELD: list = []


#: (name, argv (a function of the folder), what to prepare, the message's key words).
#: ``prepare``: "nan", "flip", a function of the monkeypatch (environment and faults), or
#: a function of the folder (files of the case's own, made before the snapshot).
CASES = [
    # -- train: the output ----------------------------------------------------------------
    ("out exists", lambda d: TRAIN + ["--out", "run.h5"], None, "exists; give --overwrite"),
    ("out is a directory", lambda d: TRAIN + ["--out", str(d)], None, "names a folder"),
    ("out ends in a separator", lambda d: TRAIN + ["--out", "newdir/"], None,
     "names a folder"),
    ("out is empty", lambda d: TRAIN + ["--out", ""], None, "an empty path"),
    ("out named like a sidecar", lambda d: TRAIN + ["--out", "other.latest.h5"], None,
     "may not end in .latest.h5"),
    ("out over a sidecar, --overwrite", lambda d: TRAIN + ["--out", "run.latest.h5",
                                                           "--overwrite"], None,
     "may not end in .latest.h5"),
    ("out whose sidecar's name is a run", lambda d: TRAIN + ["--out", "x.h5"],
     _copy("run.h5", "x.latest.h5"), "x.latest.h5: holds an eqspike run file"),
    ("out whose sidecar's name is a run, --overwrite",
     lambda d: TRAIN + ["--out", "x.h5", "--overwrite"], _copy("run.h5", "x.latest.h5"),
     "x.latest.h5: holds an eqspike run file"),
    ("out over a measured baseline", lambda d: TRAIN + ["--out", "other.baseline-cpu.h5",
                                                        "--overwrite"],
     _baseline_of_another_network, "other.baseline-cpu.h5: holds a measured baseline"),
    ("out in a read-only directory", lambda d: TRAIN + ["--out", _read_only_folder(d)], None,
     "cannot write in"),
    ("full disk", lambda d: TRAIN + ["--out", "new.h5"], lambda d, mp: _full_disk(mp),
     "No space left on device"),
    ("out claimed by another writer", lambda d: TRAIN + ["--out", "new.h5"],
     _held_claim("new.h5"), "another eqspike process"),
    # -- train: threads and numbers -----------------------------------------------------------
    ("EQSPIKE_THREADS=-3", lambda d: TRAIN + ["--out", "new.h5"],
     lambda d, mp: mp.setenv("EQSPIKE_THREADS", "-3"), "EQSPIKE_THREADS='-3'"),
    ("EQSPIKE_THREADS=two", lambda d: TRAIN + ["--out", "new.h5"],
     lambda d, mp: mp.setenv("EQSPIKE_THREADS", "two"), "expected an integer >= 0"),
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
    ("beta = true", lambda d: TRAIN[:2] + [_network_file(d, "beta", "true")] + TRAIN[3:]
     + ["--out", "new.h5"], None, "beta: expected a number, got a boolean (true)"),
    ("seed = 2**32", lambda d: TRAIN + ["--seed", str(2 ** 32), "--out", "new.h5"], None,
     "seed: 4294967296 is above the maximum"),
    ("--train-samples beyond the dataset",
     lambda d: TRAIN + ["--train-samples", "100000", "--out", "new.h5"], None,
     "training set has 60000 images"),
    ("--test-samples beyond the dataset",
     lambda d: TRAIN + ["--test-samples", "20000", "--out", "new.h5"], None,
     "test set has 10000"),
    ("unknown network", lambda d: ["train", "--network", "nope", "--out", "new.h5"], None,
     "unknown network 'nope'"),
    ("missing data", lambda d: TRAIN + ["--data-dir", str(d / "nowhere"), "--no-download",
                                        "--out", "new.h5"], None, "nowhere"),
    # -- train: the network against its data, and its geometry --------------------------------
    ("kernel larger than the image", _train_file(CONV.replace(
        "kernel = 3, padding = 1, pool = 2", "kernel = 40, padding = 1, pool = 2")), None,
     "a 40x40 kernel does not fit"),
    ("pool does not divide", _train_file(CONV.replace("pool = 2", "pool = 3").replace(
        "[2, 14, 14]", "[2, 9, 9]").replace("392", "162")), None,
     "pooling 3 does not divide the convolution's output 28x28"),
    ("layer shape is not the convolution's", _train_file(CONV.replace(
        "[2, 14, 14]", "[2, 7, 28]")), None, "gives shape [2, 14, 14], but the layer has"),
    ("MNIST input declared [4, 14, 14]", _train_file(CONV.replace(
        "[1, 28, 28]", "[4, 14, 14]").replace("kernel = 3, padding = 1, pool = 2",
                                              "kernel = 3, padding = 1, pool = 1")), None,
     "shapes[0] = [4, 14, 14]: mnist images are [1, 28, 28]"),
    ("kernel on a dense edge", _train_file(DELTA.replace("[network]", "[network]\nedges = "
                                                          "[{pre = 0, post = 1, kernel = 5}, "
                                                          "{pre = 1, post = 2}]")), None,
     "kernel belong(s) to a conv edge"),
    ("output layer of 20 for 10 classes", _train_file(DELTA.replace("[784, 32, 10]",
                                                                    "[784, 32, 20]")), None,
     "layers[-1] = 20: mnist has 10 classes"),
    ("output layer of 5 for 10 classes", _train_file(DELTA.replace("[784, 32, 10]",
                                                                   "[784, 32, 5]")), None,
     "layers[-1] = 5: mnist has 10 classes"),
    ("input layer of 100", _train_file(DELTA.replace("[784, 32, 10]", "[100, 32, 10]")),
     None, "layers[0] = 100: mnist images have 784 pixels"),
    ("a network beyond memory", _train_file(DELTA.replace("[784, 32, 10]",
                                                          "[784, 3e5, 10]")), None,
     "of memory"),
    ("two spellings of the edges", _train_file(DELTA.replace(
        "[network]", "[network]\nedges = [{pre = 0, post = 1}, {pre = 1, post = 2}]")
        + "[reference]\nedges = [{pre = 0, post = 2}, {pre = 0, post = 1}, "
          "{pre = 1, post = 2}]\n"), None, "give two values"),
    ("a spiking field in a rate network", _train_file(
        '[network]\nlayers = [784, 16, 10]\npath = "rate"\n[spiking]\ncode = "bernoulli"\n'),
     None, "[spiking] code is not read by the rate reference"),
    ("bias_rates in a rate network", _train_file(
        '[network]\nlayers = [784, 16, 10]\npath = "rate"\n[learning]\nbias_rates = '
        '[0.1, 0.1]\n'), None, "[learning] bias_rates is not read by the rate reference"),
    ("a rate field in a spiking network", _train_file(DELTA + "[reference]\nbatch_size = 7\n"),
     None, "[reference] batch_size is not read by the spiking engine"),
    ("delta code with a rate-coded input", _train_file(DELTA.replace(
        'input_code = "graded"', 'input_code = "rate"')), None, "needs input_code"),
    ("delta threshold under another code", _train_file(DELTA.replace(
        'code = "delta"', 'code = "sigma_delta"\ndelta_theta = 0.1').replace(
        'rule = "delta"', 'rule = "eqspike"')), None, "delta_theta applies to code"),
    ("a cross-entropy read-out with binary spikes", _train_file(
        '[network]\nlayers = [784, 16, 10]\n[spiking]\nloss = "cross_entropy"\n'), None,
     "needs code = \"delta\""),
    ("a cross-entropy read-out fed by the input", _train_file(DELTA.replace(
        'input_code = "graded"', 'input_code = "graded"\nloss = "cross_entropy"').replace(
        "layers = [784, 32, 10]", "layers = [784, 10]").replace(
        "[0.05, 0.05]", "[0.05]")), None, "only edge is dense, from the last hidden layer"),
    # -- train: options that do not fit ------------------------------------------------------
    ("--method for a spiking network", lambda d: TRAIN + ["--method", "bptt", "--out",
                                                          "new.h5"], None,
     "--method is an option of rate-reference networks"),
    ("--mode for a rate network", lambda d: ["train", "--network", "mnist-rate", "--mode",
                                             "runtime", "--out", "new.h5"], None,
     "--mode is an option of spiking networks"),
    ("--chunk-samples for a rate network", lambda d: ["train", "--network", "mnist-rate",
                                                      "--chunk-samples", "10", "--out",
                                                      "new.h5"], None,
     "--chunk-samples is an option of spiking networks"),
    ("--log-max-events without --log-synapses",
     lambda d: TRAIN + ["--log-max-events", "10", "--out", "new.h5"], None,
     "bounds the STDP log"),
    ("--log-synapses on a delta network", _train_file(DELTA, "--log-synapses", "5"), None,
     "delta code sends graded events"),
    ("resume with --network", lambda d: ["train", "--resume", "run.h5", "--network", "tiny"],
     None, "takes no --network"),
    ("resume with --out", lambda d: ["train", "--resume", "run.h5", "--out", "x.h5"], None,
     "takes no --out"),
    ("resume with --method", lambda d: ["train", "--resume", "run.h5", "--method", "ep"],
     None, "--method is an option of rate-reference networks"),
    ("resume a sidecar", lambda d: ["train", "--resume", "run.latest.h5"], None,
     "the latest-checkpoint sidecar of"),
    ("resume with other threads", lambda d: ["train", "--resume", "run.h5", "--threads", "2"],
     None, "started with 0 thread(s)"),
    ("resume with --overwrite", lambda d: ["train", "--resume", "run.h5", "--overwrite"], None,
     "takes no --overwrite"),
    ("resume to fewer epochs", lambda d: ["train", "--resume", "run.h5", "--epochs", "1"],
     None, "would drop some"),
    ("resume a claimed run", lambda d: ["train", "--resume", "run.h5", "--epochs", "3"],
     _held_claim("run.h5"), "another eqspike process"),
    ("NaN checkpoint: resume", lambda d: ["train", "--resume", "run.h5", "--epochs", "3",
                                          "--mode", "runtime"], "nan",
     "[checkpoint latest]: W_1_2 holds 1 non-finite value"),
    # -- evaluate -----------------------------------------------------------------------------
    ("NaN checkpoint: evaluate", lambda d: ["evaluate", "run.h5", "--mode", "runtime"],
     "nan", "[checkpoint epoch_0002]: W_1_2 holds 1 non-finite value"),
    ("flipped byte", lambda d: ["evaluate", "run.h5", "--mode", "runtime"], "flip",
     "damaged"),
    ("not HDF5", lambda d: ["evaluate", str(ROOT / "README.md")], None,
     "not a readable HDF5 file"),
    ("no such run", lambda d: ["evaluate", "missing.h5"], None, "no such run file"),
    ("one good run, one missing", lambda d: ["evaluate", "run.h5", "missing.h5", "--mode",
                                             "runtime"], None, "missing.h5: no such run"),
    ("no such checkpoint", lambda d: ["evaluate", "run.h5", "--checkpoint", "epoch_0009"],
     None, "no checkpoint 'epoch_0009'"),
    ("empty checkpoint name", lambda d: ["evaluate", "run.h5", "--checkpoint", ""], None,
     "--checkpoint: an empty name"),
    ("evaluate --test-samples beyond", lambda d: ["evaluate", "run.h5", "--test-samples",
                                                  "20000"], None, "test set has 10000"),
    ("sidecars only", lambda d: ["evaluate", "run.latest.h5"], None, "no run file among"),
    # -- energy -------------------------------------------------------------------------------
    ("NaN checkpoint: energy", lambda d: ["energy", "run.h5", "--device", "loihi"], "nan",
     "[checkpoint epoch_0002]: W_1_2 holds 1 non-finite value"),
    ("--watts nan", lambda d: ["energy", "run.h5", "--measure", "--watts", "nan"], None,
     "--watts: expected a finite number > 0"),
    ("--watts without --measure", lambda d: ["energy", "run.h5", "--watts", "5"], None,
     "--watts describes a measurement; give --measure"),
    ("--backend without --measure", lambda d: ["energy", "run.h5", "--backend", "cupy"], None,
     "--backend describes a measurement"),
    ("--measure with --baseline", lambda d: ["energy", "run.h5", "--measure", "--baseline",
                                             "gpu", "--watts", "5"], None,
     "give it or --baseline, not both"),
    ("--batch not measured", lambda d: ["energy", "run.h5", "--measure", "--watts", "5",
                                        "--batch", "7"], None,
     "--batch 7 is not among --measure-batches"),
    ("--versus-steps ,", lambda d: ["energy", "run.h5", "--versus-steps", ","], None,
     "--versus-steps: expected integers >= 1"),
    ("unknown device", lambda d: ["energy", "run.h5", "--device", "quantum"], None,
     "unknown device(s) quantum"),
    ("--levers on a conventional device", lambda d: ["energy", "run.h5", "--levers", "gpu"],
     None, "is not a neuromorphic preset"),
    ("energy figure onto the run file", lambda d: ["energy", "run.h5", "--out", "run.h5"],
     None, "run.h5: holds an eqspike run file"),
    ("energy figure exists", lambda d: ["energy", "run.h5", "--out", "e.png"],
     _touch("e.png"), "e.png: exists; give --overwrite"),
    ("--out with several runs", lambda d: ["energy", "run.h5", "two.h5", "--out", "e.png"],
     _copy("run.h5", "two.h5"), "--out names one figure; 2 runs"),
    ("a baseline of another network", lambda d: ["energy", "run.h5", "--baseline",
                                                 "other.baseline-cpu.h5"],
     _baseline_of_another_network, "measured on mnist (784-500-10), not on"),
    ("energy of a run with no epoch", lambda d: ["energy", "fresh.h5"],
     _unfinished("fresh.h5"), "no finished epoch"),
    ("figure into a read-only folder", lambda d: ["energy", "run.h5", "--device", "loihi",
                                                  "--out", _read_only_folder(d) + ".png"],
     None, "Permission denied"),
    ("devices file: synop = true", lambda d: ["energy", "run.h5", "--devices-file", _write(
        d, "dev.toml", '[chip]\nkind = "neuromorphic"\nsynop = true\n')], None,
     "dev.toml: [chip] synop: expected a number (joules) or nan, got a boolean (true)"),
    ("devices file: synop as a string", lambda d: ["energy", "run.h5", "--devices-file",
                                                   _write(d, "dev.toml", '[chip]\nkind = '
                                                          '"neuromorphic"\nsynop = "2e-12"\n')],
     None, '[chip] synop: expected a number (joules) or nan, got a string ("2e-12")'),
    ("devices file: negative energy", lambda d: ["energy", "run.h5", "--devices-file", _write(
        d, "dev.toml", '[chip]\nkind = "neuromorphic"\nsynop = -1e-12\n')], None,
     "dev.toml: device 'chip': synop = -1e-12 must be a finite energy"),
    ("devices file: kind a number", lambda d: ["energy", "run.h5", "--devices-file", _write(
        d, "dev.toml", "[chip]\nkind = 3\n")], None, "[chip] kind: expected a string"),
    ("devices file: bad alternative", lambda d: ["energy", "run.h5", "--devices-file", _write(
        d, "dev.toml", '[chip]\nkind = "neuromorphic"\nalternatives = [{field = "synop", '
                       'value = "x", source = "s"}]\n')], None,
     "alternatives[0] value: expected a number (joules), got a string"),
    # -- plasticity ---------------------------------------------------------------------------
    ("plasticity of a run without a log", lambda d: ["plasticity", "run.h5"], None,
     "this run has no STDP log"),
    ("plasticity --compare a missing run", lambda d: ["plasticity", "run.h5", "--compare",
                                                      "missing.h5"], None,
     "missing.h5: no such run file"),
    # -- gdu ----------------------------------------------------------------------------------
    ("gdu --beta nan", lambda d: ["gdu", "--beta", "nan"], None,
     "--beta: expected a finite number > 0"),
    ("gdu onto a training run", lambda d: ["gdu", "--out", "run.h5", "--overwrite"], None,
     "run.h5: holds an eqspike run file"),
    ("gdu file exists", lambda d: ["gdu", "--out", "g.h5"], _gdu_file("g.h5"),
     "g.h5: exists; give --overwrite"),
    ("gdu of a spiking network", lambda d: ["gdu", "--network", "tiny"], None,
     "not a rate-reference network"),
    ("gdu with --run and --network", lambda d: ["gdu", "--run", "run.h5", "--network", "gdu"],
     None, "give --run or --network, not both"),
    ("gdu --beta twice", lambda d: ["gdu", "--beta", "0.1", "--beta", "0.1"], None,
     "--beta: a value given twice"),
    ("gdu --batch beyond the dataset", lambda d: ["gdu", "--batch", "100000"], None,
     "train set has 60000"),
    # -- sweep --------------------------------------------------------------------------------
    ("sweep: [set] is not a table", lambda d: _sweep(d, SWEEP.replace(
        '[set]\n"training.train_samples" = 10', "").replace("[sweep]", "set = 3\n[sweep]")),
     None, "[set] must be a table, got an integer (3)"),
    ("sweep: network is a number", lambda d: _sweep(d, SWEEP.replace('network = "tiny"',
                                                                     "network = 5")), None,
     "[sweep] network must be a non-empty string, got an integer (5)"),
    ("sweep: vary is not a list", lambda d: _sweep(d, SWEEP.replace('"phases.beta" = [0.5]',
                                                                    '"phases.beta" = 0.5')),
     None, "expected a non-empty list of values"),
    ("sweep: a boolean seed", lambda d: _sweep(d, SWEEP.replace("seeds = [1]",
                                                                "seeds = [true]")), None,
     "[sweep] seeds must be a non-empty list of integers"),
    ("sweep: a value of the wrong type", lambda d: _sweep(d, SWEEP.replace(
        '"phases.beta" = [0.5]', '"phases.beta" = ["x"]')), None,
     'beta: expected a number, got a string ("x")'),
    ("sweep: test_samples beyond", lambda d: _sweep(d, SWEEP.replace("test_samples = 10",
                                                                     "test_samples = 20000")),
     None, "test set has 10000"),
    ("sweep: out is a folder of other files", lambda d: _sweep(d, SWEEP)[:3] + [str(d)],
     None, "holds other files, not a sweep"),
    ("sweep --status of a damaged index", lambda d: ["sweep", "--status", str(d / "sw")],
     _damaged_index, "damaged sweep index"),
    ("sweep --status of no sweep", lambda d: ["sweep", "--status", str(d)], None,
     "no index.csv"),
    ("sweep with no file", lambda d: ["sweep"], None, "needs a sweep file"),
    ("sweep file and --status", lambda d: ["sweep", "x.toml", "--status", str(d)], None,
     "not both"),
]


#: Cases that fail once the run has started (its banner printed, its build made): a write.
STARTED = {"full disk"}


@pytest.mark.parametrize("name, argv, prepare, message", CASES, ids=[c[0] for c in CASES])
def test_an_expected_failure_is_one_line_exit_2_and_creates_nothing(
        name, argv, prepare, message, work, monkeypatch, capsys):
    """The command's only output is one line on stderr (no banner before it), status 2,
    and the folder holds the same files with the same bytes."""
    if prepare == "nan":
        _nan_checkpoint(work)
    elif prepare == "flip":
        _flip_a_byte(work)
    elif prepare is not None:
        prepare(work, monkeypatch)
    arguments = argv(work)
    before = _snapshot(work)
    try:
        status = main(arguments)
    except SystemExit as exc:                 # argparse's own errors
        status = exc.code
    finally:
        while _HELD:                          # a claim the case held for another writer
            _HELD.pop().__exit__(None, None, None)
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2, err
    if name not in STARTED:
        assert not out.strip(), f"a failure printed before its error: {out}"
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
