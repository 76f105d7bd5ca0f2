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
