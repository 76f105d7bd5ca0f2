"""Sweeps on Dask (tiny network, Brian2 runtime mode) and the run-file hygiene they rely on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from eqspike import runfile
from eqspike.cli import main
from eqspike.sweep import SweepError, load_sweep, read_index, run_point, run_sweep
from eqspike.training import train

from .conftest import ROOT

SWEEP = """
[sweep]
network = "tiny"
seeds = [1, 2]
test_samples = 20
mode = "runtime"

[vary]
"phases.beta" = [0.5, 1.0]

[set]
"training.train_samples" = 60
"training.chunk_samples" = 20
"training.epochs" = 2
"""


def _sweep_file(tmp_path, text=SWEEP):
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    return path


def _weights(path):
    run = runfile.read_run(path)
    return run.final.weights + run.final.biases


def _same_run(a, b):
    """Two run files of one point: the same weights and metrics (seconds aside)."""
    ra, rb = runfile.read_run(a), runfile.read_run(b)
    for x, y in zip(ra.final.weights + ra.final.biases, rb.final.weights + rb.final.biases):
        np.testing.assert_array_equal(x, y)
    for name in ("epoch", "train_accuracy", "test_accuracy", "train_samples", "test_images"):
        np.testing.assert_array_equal(ra.metrics[name], rb.metrics[name])
    for name in runfile.EVENT_FIELDS:
        np.testing.assert_allclose(ra.events[name], rb.events[name], rtol=1e-12)


@pytest.fixture
def cluster():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=":0")
    client = Client(cluster)
    yield cluster, client
    client.close()
    cluster.close()


def test_sweep_file_errors_are_named(tmp_path):
    with pytest.raises(SweepError, match=r"\[vary\] is empty"):
        load_sweep(_sweep_file(tmp_path, '[sweep]\nnetwork = "tiny"\n'))
    with pytest.raises(SweepError, match=r"point p001-beta=-1.*beta: -1.0 is below"):
        load_sweep(_sweep_file(tmp_path, SWEEP.replace("[0.5, 1.0]", "[0.5, -1.0]")))
    with pytest.raises(SweepError, match="unknown field"):
        load_sweep(_sweep_file(tmp_path, SWEEP.replace('mode = "runtime"', 'moda = 1')))
    assert len(load_sweep(_sweep_file(tmp_path)).points()) == 4


def test_a_worker_killed_mid_sweep_loses_and_duplicates_nothing(tmp_path, data_dir, cluster):
    """SIGKILL one Dask worker while it trains a point: Dask reschedules the task, which
    resumes from the point's last checkpoint; every point completes once, with the weights
    and metrics of the same point run alone."""
    cluster, client = cluster
    sweep_path, out = _sweep_file(tmp_path), tmp_path / "sweep"
    result = {}
    thread = threading.Thread(target=lambda: result.update(rows=run_sweep(
        sweep_path, out, scheduler=cluster.scheduler_address, data_dir=data_dir,
        progress=False)))
    thread.start()
    victim = None
    deadline = time.time() + 300
    while victim is None and time.time() < deadline:   # a point with a chunk done, not finished
        for path in (out / "runs").glob("*.latest.h5") if (out / "runs").exists() else []:
            run = path.with_name(path.name.replace(".latest", ""))
            if runfile.read_run(run).attrs.get("status") == "running":
                victim = run
                break
        time.sleep(0.2)
    assert victim is not None, "no point was seen mid-run"
    pids = client.run(os.getpid)
    executing = client.run(lambda dask_worker: [str(t.key) for t in dask_worker.state.executing])
    address = next(a for a, keys in executing.items() if any(victim.stem in k for k in keys))
    os.kill(pids[address], signal.SIGKILL)
    thread.join(timeout=600)
    assert not thread.is_alive()
    rows = result["rows"]
    assert sorted(r["status"] for r in rows.values()) == ["complete"] * 4
    for name, row in rows.items():
        run = runfile.read_run(out / row["run_file"])
        assert list(run.metrics["epoch"]) == [1, 2]           # each epoch recorded once
        assert run.attrs["sweep_point"] == name and run.attrs["sweep"] == "tiny"
        # the killed point was tried twice (Dask rescheduled it), the others once
        assert int(row["attempts"]) == (2 if name == victim.stem else 1), (name, row)
    assert int(read_index(out)[victim.stem]["attempts"]) == 2
    # the killed point equals the same point run alone, in this process
    point = next(p for p in load_sweep(sweep_path).points() if p.name == victim.stem)
    alone = tmp_path / "alone.h5"
    run_point(sweep_path.read_text(), "tiny", point, str(alone), data_dir)
    _same_run(victim, alone)
    assert read_index(out)[victim.stem]["status"] == "complete"


@pytest.fixture
def thread_cluster():
    """A cluster whose worker runs tasks in this process (so a test can patch what they
    call)."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                           dashboard_address=":0")
    client = Client(cluster)
    yield cluster
    client.close()
    cluster.close()


ONE_POINT = SWEEP.replace("seeds = [1, 2]", "seeds = [1]").replace("[0.5, 1.0]", "[0.5]")


@pytest.mark.parametrize("failures, status, attempts", [(1, "complete", 2),
                                                        (99, "failed", 2)])
def test_attempts_count_every_try_and_the_last_error_is_recorded(
        tmp_path, data_dir, thread_cluster, monkeypatch, failures, status, attempts):
    """A point whose training raises ``failures`` times: Dask retries it once (run_sweep's
    ``retries=1``). Failing once then succeeding completes it in 2 attempts; failing every
    time records it as failed, with its error, after 2 attempts."""
    from eqspike import training

    real, calls = training.train, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) <= failures:
            raise RuntimeError(f"injected failure {len(calls)}")
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "train", flaky)
    sweep_path, out = _sweep_file(tmp_path, ONE_POINT), tmp_path / "sweep"
    rows = run_sweep(sweep_path, out, scheduler=thread_cluster.scheduler_address,
                     data_dir=data_dir, progress=False)
    (row,) = rows.values()
    assert row["status"] == status and int(row["attempts"]) == attempts
    assert len(calls) == attempts
    stored = read_index(out)[row["point"]]
    assert stored["status"] == status and int(stored["attempts"]) == attempts
    if status == "failed":
        assert "RuntimeError: injected failure 2" in stored["error"]
        assert main(["sweep", "--status", str(out)]) == 0
    else:
        assert stored["error"] == "" and runfile.read_run(out / row["run_file"]).attrs[
            "status"] == "complete"


def test_a_killed_sweep_resumes_where_it_stopped(tmp_path, data_dir):
    """SIGKILL the whole sweep (driver, cluster and workers) while points run; the same
    command again completes it: complete points are not rerun, interrupted ones resume, and
    every run equals an uninterrupted one."""
    sweep_path, out = _sweep_file(tmp_path), tmp_path / "sweep"
    command = [sys.executable, "-m", "eqspike.cli", "sweep", str(sweep_path), "--out", str(out),
               "--workers", "2", "--quiet", "--data-dir", str(data_dir)]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:
        sidecars = list((out / "runs").glob("*.latest.h5")) if (out / "runs").exists() else []
        if sidecars:
            break
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = read_index(out)
    assert any(r["status"] != "complete" for r in before.values())
    done_before = {p for p, r in before.items() if r["status"] == "complete"}
    stamps = {p: (out / before[p]["run_file"]).stat().st_mtime_ns for p in done_before}
    assert main(["sweep", str(sweep_path), "--out", str(out), "--workers", "2", "--quiet",
                 "--data-dir", str(data_dir)]) == 0
    after = read_index(out)
    assert all(r["status"] == "complete" for r in after.values())
    for p in done_before:                                  # not rerun
        assert (out / after[p]["run_file"]).stat().st_mtime_ns == stamps[p]
    sweep = load_sweep(sweep_path)
    for point in sweep.points():
        alone = tmp_path / f"alone-{point.name}.h5"
        run_point(sweep_path.read_text(), "tiny", point, str(alone), data_dir)
        _same_run(out / after[point.name]["run_file"], alone)
    assert (out / "sweep.png").stat().st_size > 0


def test_a_sweep_directory_refuses_another_sweep(tmp_path, data_dir):
    out = tmp_path / "sweep"
    out.mkdir()
    (out / "sweep.toml").write_text("something else")
    with pytest.raises(SweepError, match="holds another sweep"):
        run_sweep(_sweep_file(tmp_path), out, data_dir=data_dir, progress=False)


# -- run-file hygiene, for single runs too ---------------------------------------------------

def _tiny(**training):
    from eqspike.spec import load_network

    return load_network("tiny").replace(training={"train_samples": 40, "chunk_samples": 20,
                                                  **training})


def test_a_data_error_creates_no_run_file(tmp_path):
    path = tmp_path / "runs" / "bad.h5"
    from eqspike.data import DataError

    with pytest.raises(DataError):
        train(_tiny(), path, data_dir=tmp_path / "nowhere", mode="runtime", progress=False,
              download=False)
    assert not path.exists() and not runfile.latest_path(path).exists()
    assert main(["train", "--network", "tiny", "--data-dir", str(tmp_path / "nowhere"),
                 "--no-download", "--out", str(path)]) == 2
    assert not path.exists()


@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_run_files_follow_the_umask(tmp_path, data_dir, mask):
    old = os.umask(mask)
    try:
        path = tmp_path / "run.h5"
        train(_tiny(), path, data_dir=data_dir, mode="runtime", test_samples=10, progress=False)
    finally:
        os.umask(old)
    for p in (path, runfile.latest_path(path)):
        assert p.stat().st_mode & 0o777 == 0o666 & ~mask


def test_commands_take_a_glob_that_includes_sidecars(tmp_path, data_dir, capsys):
    for name in ("a", "b"):
        train(_tiny(), tmp_path / f"{name}.h5", data_dir=data_dir, mode="runtime",
              test_samples=10, progress=False)
    paths = sorted(str(p) for p in tmp_path.glob("*.h5"))     # what runs/*.h5 expands to
    assert len(paths) == 4
    assert main(["energy", *paths, "--device", "loihi"]) == 0
    out, err = capsys.readouterr()
    assert out.count("J/inference") == 2 and err.count("skipping") == 2
    assert main(["evaluate", *paths, "--mode", "runtime", "--test-samples", "10",
                 "--data-dir", str(data_dir), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert out.count("test accuracy") == 2 and "a.latest.h5" in err
    with pytest.raises(runfile.RunFileError, match="sidecar of a.h5"):
        runfile.read_run(tmp_path / "a.latest.h5")


def test_a_killed_and_resumed_run_reports_an_uninterrupted_runs_metrics(tmp_path, data_dir,
                                                                        monkeypatch):
    """Killed after chunk 1 of each epoch (twice) and resumed: the weights, the accuracies,
    the event statistics and the test-set size equal an uninterrupted run's, and every
    stretch of training is counted in train_seconds."""
    kwargs = dict(data_dir=data_dir, mode="runtime", progress=False)
    spec = _tiny(epochs=2, train_samples=60)
    full = tmp_path / "full.h5"
    train(spec, full, test_samples=15, **kwargs)

    write = runfile.write_latest
    kills = {(0, 1), (1, 2)}

    def write_then_die(path, *args, **attrs):
        write(path, *args, **attrs)
        key = (attrs.get("epoch"), attrs.get("chunk"))
        if key in kills:
            kills.discard(key)
            time.sleep(0.3)        # a stretch of training that the metrics must count
            raise KeyboardInterrupt

    part = tmp_path / "part.h5"
    monkeypatch.setattr(runfile, "write_latest", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(spec, part, test_samples=15, **kwargs)
    with pytest.raises(KeyboardInterrupt):
        train(None, part, resume=True, **kwargs)
    with pytest.raises(ValueError, match="keeps the test set it was started with"):
        train(None, part, resume=True, test_samples=10000, **kwargs)
    train(None, part, resume=True, **kwargs)
    _same_run(full, part)
    run = runfile.read_run(part)
    assert list(run.metrics["test_images"]) == [15, 15]
    assert run.metrics["train_seconds"][0] >= 0.3 and run.metrics["train_seconds"][1] >= 0.3


def test_sweep_status_and_cli_errors(tmp_path, capsys):
    assert main(["sweep", "--status", str(tmp_path)]) == 2
    assert "not a sweep directory" in capsys.readouterr().err
    assert main(["sweep"]) == 2
    assert "needs a sweep file" in capsys.readouterr().err
    assert (ROOT / "sweeps" / "tiny-beta.toml").exists()
    assert len(load_sweep(ROOT / "sweeps" / "tiny-beta.toml").points()) == 4
