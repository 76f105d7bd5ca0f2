"""A real training process killed at random moments, then resumed: nothing is lost."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np

from eqspike import runfile


def _command(data_dir, *args):
    return [sys.executable, "-m", "eqspike.cli", "train", *args, "--mode", "runtime",
            "--test-samples", "20", "--data-dir", str(data_dir), "--quiet"]


def test_sigkill_at_random_moments_then_resume_ends_with_the_uninterrupted_weights(
        tmp_path, data_dir):
    define = ["--network", "tiny", "--train-samples", "80", "--chunk-samples", "10",
              "--epochs", "3", "--seed", "5"]
    full = tmp_path / "full.h5"
    subprocess.run(_command(data_dir, *define, "--out", str(full)), check=True,
                   capture_output=True, timeout=300)

    killed = tmp_path / "killed.h5"
    rng = random.Random(1234)
    kills, resumed_files = 0, []
    started = False
    while True:
        args = (_command(data_dir, "--resume", str(killed)) if started
                else _command(data_dir, *define, "--out", str(killed)))
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if kills < 6:
            time.sleep(rng.uniform(1.0, 3.5))
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
                kills += 1
                if killed.exists():
                    # every kill leaves a run file that opens, with every earlier checkpoint
                    run = runfile.read_run(killed)
                    assert "initial" in run.checkpoints
                    assert len(run.metrics["epoch"]) == len(
                        [k for k in run.checkpoints if k.startswith("epoch_")])
                    resumed_files.append(sorted(run.checkpoints))
                    started = True
                continue
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err.decode()
        break
    assert kills >= 3, "the runs finished before they could be killed"
    a, b = runfile.read_run(full), runfile.read_run(killed)
    assert b.attrs["status"] == "complete"
    assert list(b.metrics["epoch"]) == [1, 2, 3]
    for x, y in zip(a.final.weights + a.final.biases, b.final.weights + b.final.biases):
        np.testing.assert_array_equal(x, y)
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]


def test_a_killed_writers_copies_are_removed_and_a_live_writers_kept(tmp_path):
    """A temporary copy is named after its writer's process: the ones a dead process left
    (of the run and of its sidecar, and an older eqspike's unnamed one) go, a live one's
    stays."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    run = tmp_path / "run.h5"
    stale = [tmp_path / f"run.h5.{dead_pid}-abc.tmp", tmp_path / f"run.latest.h5.{dead_pid}-x.tmp",
             tmp_path / "run.h5.q1w2e3.tmp"]
    live = tmp_path / f"run.h5.{os.getpid()}-live.tmp"
    other = tmp_path / f"other.h5.{dead_pid}-abc.tmp"
    for p in [*stale, live, other]:
        p.write_bytes(b"partial")
    assert sorted(runfile.remove_stale_temporaries(run)) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name])
    with runfile.atomic_write(tmp_path / "new.h5", new=True) as f:
        f.attrs["x"] = 1
        assert [p.name for p in tmp_path.glob("new.h5.*.tmp")][0].startswith(
            f"new.h5.{os.getpid()}-")


def test_two_processes_racing_for_one_out_never_share_the_run(tmp_path, data_dir):
    """Two ``eqspike train --out race.h5`` started together, with different seeds: one
    trains, the other is refused in one line (the run is claimed before its checks), and
    the run file is the winner's alone: its seed, its initial weights, complete."""
    from eqspike.parameters import init_parameters
    from eqspike.spec import load_network

    out = tmp_path / "race.h5"

    def command(seed):
        return [sys.executable, "-m", "eqspike.cli", "train", "--network", "tiny", "--mode",
                "runtime", "--train-samples", "40", "--chunk-samples", "20",
                "--test-samples", "20", "--seed", str(seed), "--out", str(out),
                "--data-dir", str(data_dir), "--quiet"]

    processes = {seed: subprocess.Popen(command(seed), stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True) for seed in (1, 2)}
    results = {seed: (p.wait(timeout=600), p.communicate()[1]) for seed, p in processes.items()}
    codes = sorted(code for code, _ in results.values())
    assert codes == [0, 2], results
    winner = next(seed for seed, (code, _) in results.items() if code == 0)
    loser_err = next(err for code, err in results.values() if code == 2)
    lines = [line for line in loser_err.splitlines() if line.strip()]
    assert len(lines) == 1 and ("another eqspike process" in lines[0]
                                or "exists; give --overwrite" in lines[0]), loser_err
    run = runfile.read_run(out)
    assert run.attrs["status"] == "complete" and int(run.attrs["seed"]) == winner
    spec = load_network("tiny").replace(training={"seed": winner})
    initial = init_parameters(spec, winner)
    for name, value in initial.items():
        np.testing.assert_array_equal(run.checkpoints["initial"].params[name], value)
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]


def test_a_gdu_check_and_a_training_run_never_replace_each_other(tmp_path, data_dir):
    """``eqspike gdu --out RUN.h5`` (even with --overwrite) leaves a training run as it was,
    and a training run named after another run's sidecar is refused: two of the losses
    the file guard stops, end to end in real processes."""
    run = tmp_path / "run.h5"
    base = [sys.executable, "-m", "eqspike.cli"]
    subprocess.run(base + ["train", "--network", "tiny", "--mode", "runtime",
                           "--train-samples", "20", "--test-samples", "10", "--out",
                           str(run), "--data-dir", str(data_dir), "--quiet"], check=True,
                   capture_output=True, timeout=600)
    before = run.read_bytes()
    for args in (["gdu", "--out", str(run), "--overwrite", "--batch", "2"],
                 ["train", "--network", "tiny", "--mode", "runtime", "--out",
                  str(tmp_path / "run.latest.h5"), "--overwrite"]):
        done = subprocess.run(base + args + ["--data-dir", str(data_dir)],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert run.read_bytes() == before
    runfile.read_run(run)
