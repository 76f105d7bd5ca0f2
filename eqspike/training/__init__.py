"""Training: one epoch loop, two engines, chosen once.

:func:`train` is the one entry: it takes the engine from the network (``[network] path``)
or, for ``resume=True``, from the run file (its ``path`` attribute), through
:data:`ENGINES`, the registry everything that must tell the engines apart asks (the
command line, sweeps). The loop (:mod:`eqspike.training.loop`) does what both engines
share: the order of the samples, the progress bar, the divergence check, checkpoints and
the sidecar, the epoch's metrics and report, resumes, the run's thread count. Each engine's
trainer does one unit of an epoch: :class:`~eqspike.training.spiking.SpikingTrainer` (a
chunk through the compiled Brian2 build) and :class:`~eqspike.training.rate.RateTrainer`
(a mini-batch of the NumPy rate reference).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .. import runfile
from ..data import check_split_size, load_dataset
from ..errors import EqspikeError, UsageError
from ..footprint import check_footprint
from ..guard import claim
from ..rules import check_loggable
from ..threads import resolve_threads, resumed_threads
from .loop import (EventStats, TrainingDiverged, TrainResult, accuracy_drop_warning,
                   check_finite, progress_bar, report_epoch, resume_point, run_epochs)
from .rate import RateTrainer, evaluate_rate, load_xy
from .spiking import SpikingTrainer, evaluate, predict

__all__ = ["train", "evaluate_run", "Engine", "ENGINES", "engine_of", "TrainingDiverged",
           "TrainResult", "Interrupted",
           "EventStats", "check_finite", "progress_bar", "accuracy_drop_warning",
           "report_epoch", "evaluate", "predict", "evaluate_rate", "load_xy"]


class Interrupted(KeyboardInterrupt):
    """A training run stopped by the user (Ctrl-C): where it stands, and how to go on."""

    def __init__(self, run_path):
        super().__init__(str(run_path))
        self.run_path = Path(run_path)

    def __str__(self) -> str:
        try:
            run = runfile.read_run(self.run_path)
            done = len(run.metrics["epoch"])
            latest = run.checkpoints.get("latest")
            where = f"{done} of {run.spec.training.epochs} epoch(s) done"
            if latest is not None and int(latest.attrs.get("epoch", -1)) == done \
                    and int(latest.attrs.get("chunk", 0)):
                where += f", {int(latest.attrs['chunk'])} chunk(s) of epoch {done + 1}"
        except (EqspikeError, OSError, KeyError):       # the message without the details
            return (f"interrupted; the run file {self.run_path} keeps what finished "
                    f"(continue with: eqspike train --resume {self.run_path})")
        return (f"interrupted: {self.run_path} keeps {where}; continue with: eqspike train "
                f"--resume {self.run_path}")


@dataclass(frozen=True)
class Engine:
    """One engine: its trainer and the options only it takes (with their defaults)."""

    name: str
    trainer: type
    options: dict
    description: str


#: The engines, by ``[network] path``.
ENGINES = {
    "spiking": Engine("spiking", SpikingTrainer,
                      {"mode": "standalone", "cache_dir": None, "log_synapses": 0,
                       "log_max_events": 100_000},
                      "Brian2 spiking network (eqspike.spiking, eqspike.engine)"),
    "rate": Engine("rate", RateTrainer, {"method": "ep"},
                   "NumPy rate reference (eqspike.reference)"),
}


def engine_of(spec=None, run=None) -> Engine:
    """The engine of a network definition, or of a run file (:class:`eqspike.runfile.Run`;
    its ``path`` attribute, "spiking" in files that predate the rate reference)."""
    return ENGINES[spec.network.path if spec is not None else run.engine]


def _engine_options(engine: Engine, options: dict) -> dict:
    """The options ``engine`` takes; another engine's option at a non-default value is a
    :class:`~eqspike.errors.UsageError` (it would be silently ignored)."""
    known = {k for e in ENGINES.values() for k in e.options}
    unknown = set(options) - known
    if unknown:
        raise TypeError(f"train() got unexpected option(s) {', '.join(sorted(unknown))}")
    for name, value in options.items():
        if name in engine.options:
            continue
        other = next(e for e in ENGINES.values() if name in e.options)
        if value != other.options[name] and name != "mode":
            raise UsageError(f"{name} = {value!r} is an option of the {other.name} engine; "
                             f"this network runs on the {engine.name} engine "
                             f"({engine.description})")
    return {**engine.options, **{k: v for k, v in options.items() if k in engine.options}}


def train(spec, run_path, *, resume: bool = False, data_dir=None,
          test_samples: int | None = None, progress: bool = True, download: bool = True,
          threads: int | None = None, run_attrs: dict | None = None, overwrite: bool = False,
          epochs: int | None = None, announce=None, **options) -> TrainResult:
    """Train ``spec`` (its ``[training]`` table says how long) into run file ``run_path``,
    on its engine (:data:`ENGINES`); with ``resume=True`` (``spec`` None) continue the run
    file from its last checkpoint to the parameters and metrics of an uninterrupted run.

    ``options``: the engine's own (spiking: ``mode``, ``cache_dir``, ``log_synapses``,
    ``log_max_events``; rate: ``method``). ``threads``: the run's thread count
    (:mod:`eqspike.threads`; None: ``$EQSPIKE_THREADS`` or 0). ``run_attrs``: more
    attributes of a new run file (a sweep's name and point). An existing ``run_path`` is
    refused unless ``overwrite``. ``epochs``, with ``resume``: go on to that many epochs in
    all (:func:`eqspike.runfile.extend_epochs`, once every check has passed).

    What shapes the results or the metrics is fixed when the run starts and reused by a
    resume: the network as run, the seed, the thread count, the test-set size (a resume
    given another one refuses), the engine's options that the run file records (the rate
    method; the logged synapses) and, through the sidecar, what the interrupted epoch had
    counted.

    Before anything is created, in this order: the run is claimed (no other process may
    write it, :func:`eqspike.guard.claim`); its files are checked (the run file and its
    sidecar, :func:`eqspike.runfile.check_new_run`), the network against its dataset
    (:meth:`~eqspike.spec.NetworkSpec.check_dataset`) and the test-set size, the thread
    count, the memory and disk the run needs (:func:`eqspike.footprint.check_footprint`)
    and the data files; then ``announce(spec, run_path)`` is called (the command line's
    banner: after the checks, so that an expected failure is one line), the build is made
    (compiled) and the run file created. A failure before that creates nothing. A
    ``KeyboardInterrupt`` while it trains is raised again as :class:`Interrupted`, which
    says where the run stands.
    """
    t_start = time.time()
    run_path = Path(run_path)
    with claim(run_path):
        return _train(spec, run_path, resume, data_dir, test_samples, progress, download,
                      threads, run_attrs, overwrite, epochs, announce, options, t_start)


def _train(spec, run_path, resume, data_dir, test_samples, progress, download, threads,
           run_attrs, overwrite, epochs, announce, options, t_start) -> TrainResult:
    if resume:
        runfile.remove_stale_temporaries(run_path)
        run = runfile.read_run(run_path)
        engine = engine_of(run=run)
        spec, seed = run.spec, int(run.attrs["seed"])
        test_samples = runfile.resumed_test_samples(run, test_samples)
        threads = resumed_threads(run.attrs.get("threads"), threads)
        point, start_epoch, start_unit, carried = resume_point(run, engine.trainer
                                                               .resumes_mid_epoch)
        test_history = list(run.metrics["test_accuracy"])
        train_history = list(run.metrics["train_accuracy"])
        asked = options.get("method")
        options = _engine_options(engine, options)
        if engine.name == "rate":
            recorded = run.attrs.get("method", "ep")
            if asked is not None and asked != recorded:
                raise UsageError(f"{run_path} trains by {recorded}; a resumed run keeps its "
                                 "method")
            options["method"] = recorded
        else:
            options["log_synapses"] = 0
            options["stored_log"] = runfile.read_group(run_path, "plasticity")
        if epochs is not None:
            runfile.check_extension(run, epochs)
    else:
        engine = engine_of(spec)
        options = _engine_options(engine, options)
        runfile.check_new_run(run_path, overwrite)
        threads = resolve_threads(threads)
        seed = spec.training.seed
        point, start_epoch, start_unit, carried = None, 0, 0, {}
        test_history, train_history = [], []
    spec.check_dataset()
    if options.get("log_synapses"):
        check_loggable(spec)
    check_split_size(spec, "test", test_samples)
    check_footprint(spec, None if resume else run_path)
    for split in ("train", "test"):                  # the files: present and intact
        load_dataset(spec.network.dataset, split, data_dir, download)
    if announce is not None:
        announce(spec, run_path)
    if engine.name == "spiking":
        options["threads"] = threads
    trainer = engine.trainer(spec, seed, point=point, data_dir=data_dir, download=download,
                             test_samples=test_samples, **options)
    if resume and epochs is not None:          # every check has passed: extend the run
        runfile.extend_epochs(run_path, epochs)
        trainer.spec = runfile.read_run(run_path).spec
    if not resume:
        runfile.remove_stale_temporaries(run_path)   # an earlier start killed mid-write
        extra = {"test_samples": int(test_samples or 0), "threads": threads,
                 **trainer.run_attrs(), **(run_attrs or {})}
        runfile.create_run(run_path, spec, seed, trainer.parameters(), None, kind=engine.name,
                           extra=extra, groups=trainer.initial_groups(), exclusive=not overwrite)
    try:
        return run_epochs(trainer, run_path, seed=seed, start_epoch=start_epoch,
                          start_unit=start_unit, carried=carried, test_history=test_history,
                          train_history=train_history, threads=threads, progress=progress,
                          t_start=t_start)
    except KeyboardInterrupt:
        raise Interrupted(run_path) from None


def evaluate_run(path, checkpoint: str | None = None, *, test_samples: int | None = None,
                 data_dir=None, download: bool = True, mode: str = "standalone",
                 threads: int | None = None, progress: bool = True) -> tuple:
    """Test accuracy of a run file's checkpoint (default: the last finished epoch's) on its
    engine: (accuracy, test images, checkpoint name, engine name)."""
    run = runfile.read_run(path)
    name = checkpoint or run.final_name
    point = run.checkpoint(name)
    engine = engine_of(run=run)
    accuracy, n = engine.trainer.evaluate_checkpoint(
        run.spec, point, seed=int(run.attrs["seed"]), data_dir=data_dir, download=download,
        test_samples=test_samples, mode=mode, threads=threads, progress=progress)
    return accuracy, n, name, engine.name
