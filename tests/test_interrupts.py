"""A Ctrl-C is never lost: not even one that arrives inside a finaliser, where Python
prints "Exception ignored" and goes on (the CI failure of stop 35: a run finished with
status 0 after SIGINT)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import weakref

import pytest

from eqspike import runfile
from eqspike.engine import StandaloneEngine
from eqspike.interrupts import remembered_interrupts
from eqspike.spec import load_network
from eqspike.training import Interrupted, train

# the swallowed interrupts are printed by Python as "ignored": that is the point here
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture(autouse=True)
def python_handles_sigint():
    """Each test starts with Python's own SIGINT handler, whatever the suite inherited: a
    suite started in the background by a non-interactive shell has SIGINT ignored, and
    then no test here would see an interrupt (as the code under test intends)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _interrupt_inside_a_finaliser():
    """SIGINT delivered while a weak reference's callback runs: its KeyboardInterrupt is
    printed as ignored and never reaches the caller."""
    class Thing:
        pass

    thing = Thing()
    ref = weakref.ref(thing, lambda _: signal.raise_signal(signal.SIGINT))
    del thing
    return ref


def test_python_loses_an_interrupt_raised_in_a_finaliser():
    """The failure mode itself, so that the tests below test something: no exception."""
    _interrupt_inside_a_finaliser()


def test_a_lost_interrupt_is_remembered_and_raised_at_the_check(monkeypatch, capfd):
    """...and kept off the terminal: Python's own hook would print "Exception ignored in"
    and a traceback before the run's one "interrupted" line."""
    monkeypatch.setattr(sys, "unraisablehook", sys.__unraisablehook__)
    previous = signal.getsignal(signal.SIGINT)
    with remembered_interrupts() as interrupts:
        interrupts.check()                      # nothing asked yet
        _interrupt_inside_a_finaliser()         # swallowed by Python...
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()                  # ...and raised here
    assert signal.getsignal(signal.SIGINT) is previous
    assert sys.unraisablehook is sys.__unraisablehook__
    assert capfd.readouterr().err == ""


def test_an_interrupt_still_raises_at_once_where_it_can():
    with remembered_interrupts():
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)


class _Device:
    """A standalone device's run as a Ctrl-C leaves it: ``fails`` (the build's process
    died: "Project run failed"), ``stop`` (what Brian2's SIGINT handler sets while the
    binary runs), ``completed`` (the fraction of the run the binary reports)."""

    def __init__(self, fails: bool = False, stop: bool = False, completed: float = 1.0):
        self.fails, self.stop, self.completed = fails, stop, completed

    def run(self, **kwargs):
        from brian2.core.network import Network

        Network._globally_running = True
        if self.stop:
            Network._globally_stopped = True
        if self.fails:
            raise RuntimeError("Project run failed")
        self._last_run_completed_fraction = self.completed


@pytest.mark.parametrize("stopped_before", [False, True])
def test_a_compiled_run_cut_short_by_ctrl_c_is_the_interrupt_and_nothing_else_is(
        stopped_before):
    """A terminal's Ctrl-C reaches the build's process: it stops early and exits normally
    (completed fraction under 1), or dies (Brian2: "Project run failed") while Brian2's
    handler records the stop. Both are KeyboardInterrupt: no half-run chunk is read. A
    failure without a Ctrl-C stays what it is, even where an earlier Ctrl-C left Brian2's
    record set (the standalone device never resets it), and a whole run is a whole run."""
    from brian2.core.network import Network

    engine = StandaloneEngine.__new__(StandaloneEngine)
    engine.directory = "unused"

    def run_with(device):
        engine.device = device
        engine._run_binary({})

    try:
        Network._globally_stopped = stopped_before
        with pytest.raises(RuntimeError, match="Project run failed"):
            run_with(_Device(fails=True))
        run_with(_Device(completed=1.0))
        run_with(_Device(stop=True, completed=1.0))   # SIGINT to Python alone: chunk whole
        with pytest.raises(KeyboardInterrupt):
            run_with(_Device(completed=0.5))
        with pytest.raises(KeyboardInterrupt) as caught:
            run_with(_Device(fails=True, stop=True))
        assert isinstance(caught.value.__cause__, RuntimeError)
        assert not Network._globally_running    # so that the next Ctrl-C interrupts at once
    finally:
        Network._globally_stopped = Network._globally_running = False


class _BrianLikeHandler:
    """Brian2's SIGINT handler as it is where the process started with SIGINT ignored: it
    keeps the ignore as ``previous_handler`` and calls it (a TypeError)."""

    def __init__(self, previous_handler):
        self.previous_handler = previous_handler

    def __call__(self, signum, frame):
        self.previous_handler(signum, frame)


def test_a_process_told_to_ignore_sigint_goes_on_ignoring_it():
    previous = signal.getsignal(signal.SIGINT)
    wrapper = _BrianLikeHandler(signal.SIG_IGN)
    signal.signal(signal.SIGINT, wrapper)
    try:
        with pytest.raises(TypeError):          # what Brian2's handler alone does
            signal.raise_signal(signal.SIGINT)
        with remembered_interrupts() as interrupts:
            signal.raise_signal(signal.SIGINT)  # ignored, as the process was told
            interrupts.check()
        assert signal.getsignal(signal.SIGINT) is wrapper
    finally:
        signal.signal(signal.SIGINT, previous)


def test_outside_the_main_thread_nothing_is_installed():
    seen = {}

    def worker():
        with remembered_interrupts() as interrupts:
            seen["handler"] = signal.getsignal(signal.SIGINT)
            interrupts.check()

    previous = signal.getsignal(signal.SIGINT)
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen["handler"] is previous


def test_training_stops_after_the_chunk_in_which_a_finaliser_swallowed_ctrl_c(
        tmp_path, data_dir, monkeypatch):
    """The interrupt lands in a finaliser during chunk 1 (of 3): the chunk finishes and is
    saved, the run stops before chunk 2 (``Interrupted``), and its file says so."""
    spec = load_network("tiny").replace(training={"train_samples": 60, "epochs": 1,
                                                  "chunk_samples": 20})
    write = runfile.write_latest

    def write_after_a_lost_interrupt(path, *args, **attrs):
        if attrs.get("chunk") == 1:
            _interrupt_inside_a_finaliser()
        write(path, *args, **attrs)

    monkeypatch.setattr(runfile, "write_latest", write_after_a_lost_interrupt)
    run = tmp_path / "run.h5"
    with pytest.raises(Interrupted):
        train(spec, run, data_dir=data_dir, mode="runtime", test_samples=10, progress=False)
    assert runfile.read_run(run).attrs["status"] == "running"
    assert int(runfile.read_run(run).checkpoints["latest"].attrs["chunk"]) == 1


def _interrupt_a_run(run, data_dir, *args, group=False, ignored=False, delay=0.0):
    """``eqspike train --network tiny ARGS --out RUN`` in a process of its own, SIGINT
    ``delay`` s after its first chunk is saved (to the process, or with ``group`` to its
    whole process group, as a terminal's Ctrl-C; ``ignored``: started with SIGINT ignored,
    as a script's background job). Returns (status, stderr)."""
    command = [sys.executable, "-m", "eqspike.cli", "train", "--network", "tiny", *args,
               "--test-samples", "10", "--out", str(run), "--data-dir", str(data_dir),
               "--quiet"]
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignored else None
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True, preexec_fn=ignore)
    deadline = time.time() + 600
    while not runfile.latest_path(run).exists() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(delay)
    if group:
        os.killpg(process.pid, signal.SIGINT)
    else:
        process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=300)
    return process.returncode, err


def test_ctrl_c_in_runtime_mode_says_where_the_run_stands_and_resumes(tmp_path, data_dir):
    """SIGINT once the first chunk is saved: one line that says what the run file keeps
    and how to go on, status 130; then --resume finishes the run."""
    run = tmp_path / "int.h5"
    status, err = _interrupt_a_run(run, data_dir, "--mode", "runtime", "--train-samples",
                                   "200", "--chunk-samples", "20")
    assert status == 130, err
    lines = [line for line in err.splitlines() if line.strip() and "WARNING" not in line]
    assert len(lines) == 1 and "interrupted:" in lines[0], err
    assert "of 1 epoch(s) done" in lines[0] and f"--resume {run}" in lines[0], lines[0]
    resumed = subprocess.run([sys.executable, "-m", "eqspike.cli", "train", "--resume",
                              str(run), "--data-dir", str(data_dir), "--quiet"],
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert runfile.read_run(run).attrs["status"] == "complete"


def test_a_terminal_ctrl_c_in_the_compiled_mode_says_where_the_run_stands(tmp_path, data_dir):
    """SIGINT to the whole process group (a terminal's Ctrl-C) once the first chunk is
    saved: the compiled build's process gets it too, and the run still ends with the one
    line and status 130 (it showed Brian2's "Project run failed" traceback)."""
    run = tmp_path / "int.h5"
    status, err = _interrupt_a_run(run, data_dir, "--train-samples", "400",
                                   "--chunk-samples", "20", group=True, delay=0.3)
    assert status == 130, err
    assert "Traceback" not in err and "interrupted:" in err, err
    assert runfile.read_run(run).attrs["status"] == "running"


def test_a_background_run_started_with_sigint_ignored_trains_through_it(tmp_path, data_dir):
    """``eqspike train ... &`` from a script: SIGINT is ignored from the start, and a SIGINT
    while it trains (Brian2 imported, its handler in place) changes nothing: status 0, a
    complete run, nothing on stderr about it."""
    run = tmp_path / "bg.h5"
    status, err = _interrupt_a_run(run, data_dir, "--mode", "runtime", "--train-samples",
                                   "100", "--chunk-samples", "20", ignored=True)
    assert status == 0, err
    assert "Traceback" not in err and "interrupted" not in err, err
    assert runfile.read_run(run).attrs["status"] == "complete"
