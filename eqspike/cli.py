"""The ``eqspike`` command: argument parsing, progress and printing, nothing more.

::

    eqspike train [--network mnist] [--epochs N] [--train-samples N] [--seed N] [--out RUN.h5]
    eqspike train --resume RUN.h5 [--epochs N]
    eqspike evaluate RUN.h5 [--checkpoint NAME]
    eqspike train --log-synapses 1000 ...     (STDP logging of 1000 synapses per edge)
    eqspike energy RUN.h5 [--device loihi ...] [--baseline gpu|FILE] [--out energy.png]
    eqspike energy RUN.h5 --measure [--watts W] [--backend cupy] --levers [loihi]
                          [--versus-steps 2,4,8,12,20]
    eqspike plasticity RUN.h5 [--out DIR] [--pairings 5] [--no-protocol]
    eqspike gdu [--network gdu] [--beta 1e-4 ...] [--t1 N] [--k N] [--batch N] [--out gdu.h5]
    eqspike networks
    eqspike --version

Every subcommand's ``--help`` ends with examples (:data:`EXAMPLES`). Every expected failure
(an :class:`eqspike.errors.EqspikeError`: bad data, network or run file, bad arguments, a
diverging run; or the filesystem refusing a write) ends with one line
``eqspike: error: ...`` on stderr and exit status 2, and a failed start creates nothing. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .errors import EqspikeError, UsageError

__all__ = ["main"]


def _integer(minimum: int):
    """An argparse type: an integer >= ``minimum``, with a one-line error otherwise."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value
    return parse


_positive, _non_negative = _integer(1), _integer(0)


def _finite(minimum: float, exclusive: bool = False):
    """An argparse type: a finite number >= ``minimum`` (> with ``exclusive``)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not (value == value and abs(value) != float("inf")) or value < minimum or (
                exclusive and value == minimum):
            raise argparse.ArgumentTypeError(
                f"expected a finite number {'>' if exclusive else '>='} {minimum:g}, got "
                f"{text!r}")
        return value
    return parse


def _batches(text: str) -> tuple:
    """An argparse type: comma-separated integers >= 1, e.g. '1,50' (at least one)."""
    values = tuple(_positive(part) for part in text.split(",") if part.strip())
    if not values:
        raise argparse.ArgumentTypeError(f"expected integers >= 1 separated by commas, got "
                                         f"{text!r}")
    return values


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (and exit status 2), like every other
    expected failure of the command."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


#: Examples shown at the end of each subcommand's ``--help``.
EXAMPLES = {
    "train": """examples:
  eqspike train                                   the default network, one epoch (96.74%)
  eqspike train --network mnist-long              5 epochs, past 98%
  eqspike train --network mnist-deep --out runs/deep.h5
  eqspike train --resume runs/deep.h5 --epochs 10 continue (or extend) a run
  eqspike train --network mnist-rate              the rate reference
  eqspike train --network mnist-rate-coded --log-synapses 1000   with STDP logging""",
    "evaluate": """examples:
  eqspike evaluate runs/RUN.h5
  eqspike evaluate runs/*.h5 --test-samples 2000
  eqspike evaluate runs/RUN.h5 --checkpoint epoch_0002""",
    "energy": """examples:
  eqspike energy runs/RUN.h5 --breakdown --device loihi
  eqspike energy runs/RUN.h5 --measure                measure this machine's baseline first
  eqspike energy runs/RUN.h5 --levers loihi --versus-steps 4,8,12,20""",
    "plasticity": """examples:
  eqspike train --network mnist-rate-coded --log-synapses 1000 --out runs/log.h5
  eqspike plasticity runs/log.h5 --out stdp/
  eqspike plasticity runs/log.h5 --compare runs/other-rule.h5""",
    "gdu": """examples:
  eqspike gdu
  eqspike gdu --network mnist-rate --beta 0.5 --beta 0.1 --t1 100 --k 10""",
    "sweep": """examples:
  eqspike sweep sweeps/tiny-beta.toml
  eqspike sweep sweeps/tiny-beta.toml --workers 2 --out runs/sweep-beta
  eqspike sweep --status runs/sweep-beta""",
    "networks": """examples:
  eqspike networks
  eqspike train --network NAME          train one of them""",
}


def _versions() -> str:
    """``eqspike X (brian2 Y, numpy Z, Python W)``, without importing Brian2."""
    from importlib.metadata import PackageNotFoundError, version

    from . import __version__

    def of(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return (f"eqspike {__version__} (brian2 {of('brian2')}, numpy {of('numpy')}, Python "
            f"{sys.version.split()[0]})")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="eqspike", description=(
        "Spiking Equilibrium Propagation (EqSpike) in Brian2."))
    parser.add_argument("--version", action="version", version=_versions())
    sub = parser.add_subparsers(dest="command", required=True)
    real_add_parser = sub.add_parser

    def add_parser(name, **kwargs):
        """Every subcommand's --help ends with its examples (:data:`EXAMPLES`)."""
        return real_add_parser(name, epilog=EXAMPLES.get(name),
                               formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)

    sub.add_parser = add_parser

    common = _Parser(add_help=False)
    common.add_argument("--data-dir", help="dataset directory (default: $EQSPIKE_DATA, "
                        "else ~/.cache/eqspike/data, downloading the official files)")
    common.add_argument("--no-download", action="store_true",
                        help="fail instead of downloading missing dataset files")
    common.add_argument("--mode", choices=("standalone", "runtime"),
                        help="spiking networks: the Brian2 device, compiled C++ (default: "
                             "standalone) or runtime (numpy)")
    common.add_argument("--test-samples", type=_positive,
                        help="evaluate on the first N test images (default: all)")
    common.add_argument("--quiet", action="store_true", help="no progress bars")
    common.add_argument("--threads", type=_non_negative, metavar="N",
                        help="the run's threads: OpenMP threads of the compiled simulation "
                             "(0: none) and max(N, 1) threads of the numerical libraries; "
                             "recorded in the run file and kept by --resume (default: "
                             "$EQSPIKE_THREADS, else 0)")

    tr = sub.add_parser("train", parents=[common], help="train a spiking network")
    tr.add_argument("--network",
                    help="a name in networks/ or a path to a .toml file (default: mnist)")
    tr.add_argument("--epochs", type=_positive, help="override [training] epochs")
    tr.add_argument("--train-samples", type=_positive,
                    help="override [training] train_samples (per epoch)")
    tr.add_argument("--seed", type=_non_negative, help="override [training] seed")
    tr.add_argument("--chunk-samples", type=_positive,
                    help="override [training] chunk_samples (samples per compiled run)")
    tr.add_argument("--out", help="run file to write (default: runs/NETWORK-seedS-TIME.h5); "
                    "an existing file is refused unless --overwrite")
    tr.add_argument("--overwrite", action="store_true",
                    help="replace the run file --out names if it exists")
    tr.add_argument("--resume", metavar="RUN.h5",
                    help="continue this run file from its last checkpoint")
    tr.add_argument("--method", choices=("ep", "bptt"),
                    help="rate reference only: train by EP (default) or by BPTT through the "
                         "free phase (the baseline)")
    tr.add_argument("--log-synapses", type=_non_negative, default=0, metavar="N",
                    help="log every weight change of N sampled synapses per edge, "
                         "with its spike timing (STDP logging; default 0: off)")
    tr.add_argument("--log-max-events", type=_positive, metavar="N",
                    help="keep a uniform sample of at most N logged changes per edge "
                         "and epoch (the binned window counts all; default 100000)")

    ev = sub.add_parser("evaluate", parents=[common],
                        help="test accuracy of a run file's weights")
    ev.add_argument("runs", nargs="+", metavar="RUN.h5",
                    help="eqspike run files (a glob such as runs/*.h5: sidecars are skipped)")
    ev.add_argument("--checkpoint", help="checkpoint name (default: the last epoch's)")

    en = sub.add_parser("energy", parents=[common], help="energy per inference and per training sample, "
                        "per device, from a run file's counted events")
    en.add_argument("runs", nargs="+", metavar="RUN.h5",
                    help="eqspike run files (a glob such as runs/*.h5: sidecars are skipped)")
    en.add_argument("--device", action="append", dest="devices", metavar="NAME",
                    help="a device preset (repeatable; default: all)")
    en.add_argument("--devices-file", help="TOML file of extra devices (see "
                    "eqspike/energy/devices.toml for the form)")
    en.add_argument("--baseline", help="conventional preset for the ratio, or a measured "
                    "baseline file RUN.baseline-NAME.h5 of the same network (default: gpu)")
    en.add_argument("--batch", type=_positive, default=50,
                    help="batch size of the baseline (default: 50)")
    ms = en.add_argument_group("measured baseline (the run's rate twin on this machine)")
    ms.add_argument("--measure", action="store_true",
                    help="measure this machine first (RAPL on a CPU, NVML on a GPU, else "
                    "--watts), store RUN.baseline-NAME.h5 beside the run and use it as the "
                    "baseline")
    ms.add_argument("--watts", type=_finite(0.0, exclusive=True), help="a stated power: energy = time x W, "
                    "labelled as such (needed where no energy counter exists)")
    ms.add_argument("--backend", choices=("numpy", "cupy"),
                    help="numpy (this CPU, the default) or cupy (the GPU; eqspike[gpu])")
    ms.add_argument("--dtype", choices=("float32", "float64"), help="default float32")
    ms.add_argument("--measure-samples", type=_positive, metavar="N",
                    help="samples per workload and batch size (default 2000)")
    ms.add_argument("--measure-batches", type=_batches, metavar="B,B",
                    help="batch sizes measured (default 1,50; --batch must be one)")
    lv = en.add_argument_group("what it would take")
    lv.add_argument("--levers", nargs="?", const="loihi", metavar="DEVICE",
                    help="the ratio as one lever at a time moves, for a neuromorphic preset "
                    "(default loihi): a table of what each lever must reach for 10^3 / 10^2, "
                    "and RUN.levers.png")
    lv.add_argument("--versus-steps", type=_batches, metavar="T,T,...",
                    help="evaluate the test set with free phases of these lengths: accuracy "
                    "and energy per inference for each (RUN.energy-vs-steps.h5 and .png)")
    en.add_argument("--breakdown", action="store_true",
                    help="also print the per-layer, per-part breakdown of every device")
    en.add_argument("--out", help="bar chart PNG (default: energy.png; with several runs "
                    "RUN-energy.png beside each)")
    en.add_argument("--overwrite", action="store_true",
                    help="replace the figures and files this command writes if they exist")

    pl = sub.add_parser("plasticity", help="STDP window, fits, weight-change histograms and "
                        "trajectories from a run's STDP log, beside the pairing protocol")
    pl.add_argument("run", help="an eqspike run file trained with --log-synapses")
    pl.add_argument("--out", help="output folder (default: RUN-plasticity/ beside the run)")
    pl.add_argument("--overwrite", action="store_true",
                    help="write into an output folder that already holds files")
    pl.add_argument("--pairings", type=_positive, default=5,
                    help="pairings per offset in the protocol (default: 5)")
    pl.add_argument("--no-protocol", action="store_true", help="skip the pairing protocol")
    pl.add_argument("--dt", choices=("nearest", "last"), default="nearest",
                    help="bin each change by the other neuron's nearest spike (default) or "
                         "its last spike before the trigger")
    pl.add_argument("--compare", nargs="+", metavar="RUN.h5", default=[],
                    help="other logged runs (e.g. another rule): one more figure, "
                         "stdp_compare.png, with every run's training window and protocol "
                         "beside the Bi & Poo (1998) shape")

    gd = sub.add_parser("gdu", parents=[common], help="the GDU check: EP's step-by-step "
                        "updates against BPTT's gradients (rate reference), to HDF5 and PNG")
    gd.add_argument("--network",
                    help="a rate-reference network (default: gdu, the theorem's setting)")
    gd.add_argument("--run", help="take the parameters of this run file's last checkpoint "
                    "(default: the network's initial parameters)")
    gd.add_argument("--beta", type=_finite(0.0, exclusive=True), action="append", dest="betas",
                    help="nudging strength (repeatable; default: 1e-4, 0.1 and 0.5)")
    gd.add_argument("--t1", type=_positive, help="free steps (default: [phases] free_steps)")
    gd.add_argument("--k", type=_positive, help="nudged steps compared (default: [phases] "
                    "nudge_steps)")
    gd.add_argument("--batch", type=_positive, default=20, help="training images (default 20)")
    gd.add_argument("--overwrite", action="store_true",
                    help="replace the GDU files and figures if they exist")
    gd.add_argument("--out", default="gdu.h5", help="HDF5 file; the PNG and the one for each "
                    "further beta are written beside it (default: gdu.h5)")

    sw = sub.add_parser("sweep", help="many training runs of one network (fields varied, "
                        "seeds) as Dask tasks, resumable; see eqspike/sweep.py")
    sw.add_argument("sweep", nargs="?", metavar="SWEEP.toml", help="the sweep file")
    sw.add_argument("--status", metavar="DIR", help="print where the sweep in DIR stands")
    sw.add_argument("--out", metavar="DIR", help="sweep directory (default: runs/sweep-NAME; "
                    "a killed sweep resumes in it)")
    sw.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler "
                    "(default: a LocalCluster, one worker per core)")
    sw.add_argument("--workers", type=_positive, help="LocalCluster workers (default: cores)")
    sw.add_argument("--mode", choices=("standalone", "runtime"),
                    help="override the sweep file's Brian2 device for spiking points")
    sw.add_argument("--data-dir", help="dataset directory (default: $EQSPIKE_DATA, else "
                    "~/.cache/eqspike/data)")
    sw.add_argument("--no-download", action="store_true",
                    help="fail instead of downloading missing dataset files")
    sw.add_argument("--quiet", action="store_true", help="no progress bar")

    sub.add_parser("networks", help="list the named networks")
    return parser


def _train_options(args, engine: str) -> dict:
    """The engine options ``eqspike train`` was given, refusing those ``engine`` ("spiking"
    or "rate") would ignore."""
    spiking = {"--mode": args.mode, "--log-synapses": args.log_synapses or None,
               "--log-max-events": args.log_max_events, "--chunk-samples": args.chunk_samples}
    given = [flag for flag, value in spiking.items() if value is not None]
    if engine == "rate" and given:
        raise UsageError(f"{given[0]} is an option of spiking networks; this network runs on "
                         "the rate reference")
    if engine == "spiking" and args.method is not None:
        raise UsageError("--method is an option of rate-reference networks; this network is "
                         "spiking (it trains by its [learning] rule)")
    if args.log_max_events is not None and not args.log_synapses:
        raise UsageError("--log-max-events bounds the STDP log of --log-synapses N; give both "
                         "or neither")
    if engine == "rate":
        return {"method": args.method or "ep"}
    return {"mode": args.mode or "standalone", "log_synapses": args.log_synapses,
            "log_max_events": args.log_max_events or 100_000}


def _banner(spec, path) -> None:
    """The line ``eqspike train`` prints once every check has passed."""
    print(f"training {spec.name} ({'-'.join(map(str, spec.layers))}, "
          f"{spec.training.epochs} epoch(s) of {spec.training.train_samples} samples, "
          f"seed {spec.training.seed}) -> {path}", flush=True)


def _train(args) -> int:
    from .guard import check_path_text
    from .runfile import read_run
    from .spec import load_network
    from .training import train

    if args.resume:
        given = [flag for flag, value in (("--out", args.out), ("--overwrite", args.overwrite),
                                          ("--network", args.network),
                                          ("--train-samples", args.train_samples),
                                          ("--chunk-samples", args.chunk_samples),
                                          ("--seed", args.seed),
                                          ("--log-synapses", args.log_synapses),
                                          ("--log-max-events", args.log_max_events))
                 if value not in (None, False, 0)]
        if given:
            raise UsageError(f"--resume continues a run as it was defined; it takes no "
                             f"{given[0]} (--epochs N extends it to N epochs in all; "
                             "--test-samples, --threads and --method, if given, must be the "
                             "recorded ones)")
        path = Path(args.resume)
        spec = None
        engine = read_run(path).engine
        if engine == "rate" and args.mode is not None:
            raise UsageError("--mode is an option of spiking networks; this run is of the "
                             "rate reference")
        if engine == "spiking" and args.method is not None:
            raise UsageError("--method is an option of rate-reference networks; this run is "
                             "spiking")
        options = ({"method": args.method} if args.method else {}) if engine == "rate" \
            else {"mode": args.mode or "standalone"}
    else:
        spec = load_network(args.network or "mnist")
        options = _train_options(args, spec.network.path)
        overrides = {k: v for k, v in (("epochs", args.epochs),
                                        ("train_samples", args.train_samples),
                                        ("seed", args.seed),
                                        ("chunk_samples", args.chunk_samples)) if v is not None}
        if overrides:
            spec = spec.replace(training=overrides)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        if args.out is not None:
            check_path_text(args.out, "run file")
        path = Path(args.out if args.out is not None
                    else f"runs/{spec.name}-seed{spec.training.seed}-{stamp}.h5")
    result = train(spec, path, resume=bool(args.resume), data_dir=args.data_dir,
                   test_samples=args.test_samples, progress=not args.quiet,
                   download=not args.no_download, threads=args.threads,
                   overwrite=args.overwrite, epochs=args.epochs if args.resume else None,
                   announce=None if args.resume else _banner, **options)
    print(f"test accuracy {result.test_accuracy[-1]:.4f} after {len(result.test_accuracy)} "
          f"epoch(s); {result.seconds:.0f} s in all; run file {result.path}")
    return 0


def _runs(paths) -> list:
    """The run files of ``paths``, with a note on stderr for each sidecar skipped."""
    from .runfile import RunFileError, run_paths

    runs, notes = run_paths(paths)
    if not runs:
        raise RunFileError("no run file among " + ", ".join(map(str, paths)) + " ("
                           + "; ".join(notes) + ")")
    for note in notes:
        print(f"eqspike: {note}", file=sys.stderr)
    return runs


def _read_runs(paths, args, checkpoint: str | None = None) -> dict:
    """Every run file a command was given, read and checked before any is used: the
    checkpoint exists and is finite, the network fits its dataset, ``--test-samples`` fits
    the test set, ``--mode`` is not given for a rate-reference run."""
    from .data import check_split_size
    from .runfile import read_run

    runs = {path: read_run(path) for path in _runs(paths)}
    for path, run in runs.items():
        run.checkpoint(checkpoint)
        run.spec.check_dataset()
        check_split_size(run.spec, "test", getattr(args, "test_samples", None))
        if run.engine == "rate" and getattr(args, "mode", None) is not None:
            raise UsageError(f"--mode is an option of spiking networks; {path} is a run of "
                             "the rate reference")
    return runs


def _evaluate(args) -> int:
    if args.checkpoint is not None and not args.checkpoint.strip():
        raise UsageError("--checkpoint: an empty name; give one such as epoch_0002 (default: "
                         "the last epoch's)")
    for path in _read_runs(args.runs, args, args.checkpoint):
        _evaluate_one(path, args)
    return 0


def _evaluate_one(path, args) -> None:
    from .training import evaluate_run

    accuracy, n, name, engine = evaluate_run(
        path, args.checkpoint, test_samples=args.test_samples, data_dir=args.data_dir,
        download=not args.no_download, mode=args.mode or "standalone", threads=args.threads,
        progress=not args.quiet)
    print(f"{path} [{name}]: test accuracy {accuracy:.4f} on {n} images"
          + (" (rate reference)" if engine == "rate" else ""))


#: ``eqspike energy``'s options of a measurement, and their values when not given.
MEASURE_DEFAULTS = {"watts": None, "backend": "numpy", "dtype": "float32",
                    "measure_samples": 2000, "measure_batches": (1, 50)}


def _energy_outputs(path, args, several: bool) -> list:
    """What ``eqspike energy`` writes for one run (:class:`eqspike.guard.Output`)."""
    from .energy.baseline import FORMAT as BASELINE, baseline_path
    from .energy.curve import curve_path
    from .guard import Output

    path = Path(path)
    figure = args.out if args.out is not None else (
        str(path.with_name(path.stem + "-energy.png")) if several else "energy.png")
    out = [Output(Path(figure), "energy bar chart")]
    if args.measure:
        name = "gpu" if args.backend == "cupy" else "cpu"
        out.append(Output(baseline_path(path, name), "measured baseline", BASELINE))
    if args.levers:
        out.append(Output(path.with_name(path.stem + ".levers.png"), "levers figure"))
    if args.versus_steps:
        out += [Output(curve_path(path), "energy-accuracy curve", "eqspike-energy-vs-steps"),
                Output(curve_path(path).with_suffix(".png"), "energy-accuracy figure")]
    return out


def _energy(args) -> int:
    from . import energy
    from .energy.baseline import read_baseline
    from .guard import check_outputs, check_path_text

    if args.devices_file:
        energy.DEVICES.update(energy.load_devices(args.devices_file))
    given = [f"--{k.replace('_', '-')}" for k in MEASURE_DEFAULTS if getattr(args, k) is not None]
    if given and not args.measure:
        raise UsageError(f"{given[0]} describes a measurement; give --measure with it")
    for key, value in MEASURE_DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.measure and args.baseline is not None:
        raise UsageError("--measure makes the baseline (RUN.baseline-NAME.h5); give it or "
                         "--baseline, not both")
    if args.measure and args.batch not in args.measure_batches:
        raise UsageError(f"--batch {args.batch} is not among --measure-batches "
                         f"{','.join(map(str, args.measure_batches))}")
    if args.levers and getattr(energy.DEVICES.get(args.levers), "kind", None) != "neuromorphic":
        raise energy.EnergyError(f"--levers: {args.levers!r} is not a neuromorphic preset; "
                                 f"valid: {', '.join(n for n, d in energy.DEVICES.items() if d.kind == 'neuromorphic')}")
    energy.resolve_devices(args.devices, args.baseline or "gpu", args.batch)
    if args.out is not None:
        check_path_text(args.out, "energy bar chart")
    runs = _read_runs(args.runs, args)
    if args.out is not None and len(runs) > 1:
        raise UsageError(f"--out names one figure; {len(runs)} runs make one each (leave out "
                         "--out: RUN-energy.png beside each run)")
    for path, run in runs.items():
        if not len(run.metrics["epoch"]):
            raise energy.EnergyError(f"{path}: no finished epoch, so no event counts")
        if args.versus_steps and run.engine == "rate":
            raise energy.EnergyError(f"{path}: a rate-reference run has no spikes to count; "
                                     "--versus-steps needs a spiking run")
        if args.baseline is not None and Path(args.baseline).suffix == ".h5":
            measured = read_baseline(args.baseline)
            if (measured.network, tuple(measured.layers)) != (run.spec.name, run.spec.layers):
                raise energy.EnergyError(
                    f"{args.baseline}: measured on {measured.network} "
                    f"({'-'.join(map(str, measured.layers))}), not on {path}'s network "
                    f"{run.spec.name} ({'-'.join(map(str, run.spec.layers))}); measure this "
                    "run's own (--measure)")
    outputs = {path: _energy_outputs(path, args, len(runs) > 1) for path in runs}
    check_outputs([o for out in outputs.values() for o in out], args.overwrite)
    reports = {}
    for path in runs:
        out = str(outputs[path][0].path)
        baseline = _measure(path, args) if args.measure else (args.baseline or "gpu")
        report = energy.energy_report(runs[path], args.devices, baseline, args.batch)
        reports[str(path)] = report
        print(f"{path}: network {report.network} {'-'.join(map(str, report.layers))}, "
              f"epoch {report.epoch}, {report.train_samples} training samples per epoch")
        print(report.counts_table())
        print(report.table())
        if args.breakdown:
            for name in report.energy:
                for workload in ("inference", "training"):
                    print(report.breakdown(name, workload))
        print("Assumptions: " + energy.ASSUMPTIONS)
        for name in report.energy:
            print(f"  {name}: {report.devices[name].source}")
            device = report.devices[name]
            if report.code == "delta" and device.kind == "neuromorphic":
                print(f"    graded events: {device.graded_source or 'not priced'}")
            if report.weight_bits and device.kind == "neuromorphic":
                print(f"    {report.weight_bits}-bit weights: " + (
                    device.bits_source if device.bits_source else "ASSUMED: the published "
                    "per-event energies, whatever the weight's bits (no source splits out "
                    "the weight's memory)"))
        energy.plot_report(report, out)
        print(f"bar chart: {out}")
        if args.levers:
            _levers(path, report, args.levers)
        if args.versus_steps:
            _versus_steps(path, args, baseline)
    if len(reports) > 1:
        print(energy.compare_table(reports))
    return 0


def _measure(path, args) -> str:
    """Measure the run's rate twin here; returns the baseline file's path."""
    from .energy.baseline import baseline_path, measure_baseline, save_baseline

    def show(m):
        if not args.quiet:
            print(f"  measured {m.workload} at batch {m.batch}: "
                  f"{1e3 * m.seconds_per_sample:.4f} ms/sample", file=sys.stderr)

    result = measure_baseline(path, samples=args.measure_samples, batches=args.measure_batches,
                              backend=args.backend, dtype=args.dtype, watts=args.watts,
                              data_dir=args.data_dir, download=not args.no_download,
                              progress=show)
    target = save_baseline(result, baseline_path(path, result.name))
    print(result.table())
    print(f"baseline file: {target}")
    return str(target)


def _levers(path, report, device: str) -> None:
    from .energy import DEVICES
    from .energy.levers import Levers, assumptions_table, plot_levers
    from .runfile import read_run

    levers = Levers.from_report(report, read_run(path).spec, device)
    print(assumptions_table(levers))
    out = Path(path).with_name(Path(path).stem + ".levers.png")
    presets = {n: d.synop for n, d in DEVICES.items()
               if d.kind == "neuromorphic" and 1e-15 <= d.synop <= 1e-9}
    plot_levers(levers, out, presets=presets)
    print(f"levers figure: {out}")


def _versus_steps(path, args, baseline: str) -> None:
    from .energy.curve import curve_path, energy_accuracy_curve, plot_curve, save_curve
    from .training import progress_bar

    devices = [args.levers or "loihi"] + [d for d in (args.devices or [])
                                           if d != (args.levers or "loihi")]
    bar = progress_bar(len(args.versus_steps), "free-phase lengths", not args.quiet)
    curve = energy_accuracy_curve(path, args.versus_steps, devices=devices, baseline=baseline,
                                  batch=args.batch, data_dir=args.data_dir,
                                  download=not args.no_download,
                                  test_samples=args.test_samples, mode=args.mode or "standalone",
                                  threads=args.threads,
                                  progress=lambda t, a: bar and bar.update(1))
    if bar is not None:
        bar.close()
    print(curve.table())
    target = save_curve(curve, curve_path(path))
    png = target.with_suffix(".png")
    plot_curve(curve, png)
    print(f"energy-accuracy curve: {target}, {png}")


def _plasticity(args) -> int:
    from .guard import Output, OutputError, check_outputs
    from .plasticity.window import REPORT_FILES, describe_fit, load_log, plasticity_report, \
        report_folder
    from .runfile import read_run

    runs = [*_runs([args.run]), *(_runs(args.compare) if args.compare else [])]
    for path in runs:                         # every run read before anything is written
        read_run(path)
    for path in runs:
        load_log(path)
    if args.out is not None and not args.out.strip():
        raise OutputError("--out: an empty path; name the output folder")
    folder = report_folder(args.run, args.out)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: is a file; --out names the folder the figures go to")
    names = list(REPORT_FILES) + (["stdp_compare.png", "stdp_compare.csv"] if args.compare
                                  else [])
    check_outputs([Output(folder / name, "plasticity figure or table") for name in names],
                  args.overwrite)
    report = plasticity_report(args.run, args.out, protocol=not args.no_protocol,
                               pairings=args.pairings, dt_kind=args.dt)
    print(f"{args.run}: {report['n_events']} logged weight changes per edge; "
          f"reconstruction checked against the weights to {report['max_mismatch']:.1e}")
    print("exponential fits  ΔW = A+ exp(-Δt/τ+) (Δt > 0),  A- exp(Δt/τ-) (Δt < 0); a branch "
          "the model does not describe is printed as not fitted, with its measured values:")
    for name, fit in report["fits"].items():
        print(f"  {name:10s} {describe_fit(fit['plus'], '+')}")
        print(f"  {'':10s} {describe_fit(fit['minus'], '-')}")
    print(f"figures and tables: {report['out_dir']}/ (stdp_window, stdp_fits, "
          "weight_changes, weight_trajectories)")
    if args.compare:
        from .plasticity.window import compare_windows

        figure = Path(report["out_dir"]) / "stdp_compare.png"
        fits = compare_windows(runs, figure, args.pairings, args.dt)
        print("fits per run (A± with standard errors; Bi & Poo: A+ > 0 causal, A- < 0 "
              "anti-causal):")
        for run, by_source in fits.items():
            for name, fit in by_source.items():
                print(f"  {Path(run).stem:24s} {name:18s} {describe_fit(fit['plus'], '+')}")
                print(f"  {'':24s} {'':18s} {describe_fit(fit['minus'], '-')}")
        print(f"comparison figure: {figure} (numbers: {figure.with_suffix('.csv')})")
    return 0


def _gdu(args) -> int:
    import numpy as np

    from .data import check_split_size
    from .guard import Output, check_outputs, check_path_text
    from .reference.gdu import gdu_paths, run_gdu
    from .runfile import read_run
    from .spec import load_network

    if args.run:
        if args.network is not None:
            raise UsageError("--run takes the network of the run file; give --run or "
                             "--network, not both")
        run = read_run(args.run)
        spec, params = run.spec, run.checkpoint().params
    else:
        spec, params = load_network(args.network or "gdu"), None
    if spec.network.path != "rate":
        raise UsageError(f"{spec.name} is not a rate-reference network ([network] path = "
                         "\"rate\"); the GDU check runs on the rate reference")
    spec.check_dataset()
    check_split_size(spec, "train", args.batch)
    betas = args.betas or [1e-4, 0.1, 0.5]
    if len(set(betas)) < len(betas):
        raise UsageError(f"--beta: a value given twice ({', '.join(map(str, betas))})")
    check_path_text(args.out, "GDU check file")
    check_outputs([o for path in gdu_paths(args.out, betas)
                   for o in (Output(path, "GDU check file", "eqspike-gdu"),
                             Output(path.with_suffix(".png"), "GDU figure"))], args.overwrite)
    t1, k = args.t1 or spec.phases.free_steps, args.k or spec.phases.nudge_steps
    checks = run_gdu(spec, args.out, betas, params=params, t1=t1,
                     k=k, batch=args.batch, data_dir=args.data_dir,
                     download=not args.no_download)
    print(f"GDU check: {spec.name} ({spec.reference.dynamics} dynamics, "
          f"{spec.network.activation}), batch {args.batch}, T1 = {t1}, K = {k}")
    for beta, path, result, table in checks:
        print(f"beta = {beta:g} (free phase residual {result['free_residual']:.1e}) -> {path}, "
              f"{path.with_suffix('.png')}")
        print(f"  {'':10s} {'rel. error one-sided':>22s} {'symmetric':>12s} "
              f"{'sign agreement one-sided':>26s} {'symmetric':>10s}")
        for name in table["one_sided"]["relative_error"]:
            worst = {m: float(np.nanmax(result["summary"][m]["relative_error"][name]))
                     for m in ("one_sided", "symmetric")}
            print(f"  {name:10s} {table['one_sided']['relative_error'][name]:10.1e} "
                  f"(max {worst['one_sided']:.0e}) {table['symmetric']['relative_error'][name]:8.1e} "
                  f"(max {worst['symmetric']:.0e}) "
                  f"{table['one_sided']['sign_agreement'][name]:14.3f} "
                  f"{table['symmetric']['sign_agreement'][name]:22.3f}")
    print("relative error: median over the K steps of |ΔEP(t) + ∇BPTT(t)| / max_t |∇BPTT(t)|;"
          " sign agreement: median fraction of entries where ΔEP(t) has the sign of −∇BPTT(t)")
    return 0


def _sweep(args) -> int:
    from .sweep import load_sweep, run_sweep, status_table, sweep_directory

    if args.status:
        if args.sweep:
            raise UsageError("eqspike sweep takes a sweep file or --status DIR, not both")
        print(status_table(args.status))
        return 0
    if not args.sweep:
        raise UsageError("eqspike sweep needs a sweep file (or --status DIR)")
    rows = run_sweep(args.sweep, args.out, scheduler=args.scheduler, workers=args.workers,
                     data_dir=args.data_dir, download=not args.no_download,
                     progress=not args.quiet, mode=args.mode)
    failed = [r for r in rows.values() if r["status"] == "failed"]
    out = sweep_directory(load_sweep(args.sweep), args.out)
    print(f"{len(rows) - len(failed)} of {len(rows)} points complete; index {out}/index.csv, "
          f"figure {out}/sweep.png" + (f"; {len(failed)} failed (eqspike sweep --status "
                                        f"{out})" if failed else ""))
    return 1 if failed else 0


def _networks(args) -> int:
    """The named networks as an aligned table: name, engine, dataset, layers, edges (skip
    and conv edges counted apart), description."""
    from .spec import available_networks, load_network

    rows = [("name", "engine", "dataset", "layers", "edges", "description")]
    for name in available_networks():
        spec = load_network(name)
        skips = sum(e.post != e.pre + 1 for e in spec.edges)
        convs = sum(e.kind == "conv" for e in spec.edges)
        edges = f"{len(spec.edges)}" + "".join(f", {n} {what}" for n, what in
                                               ((skips, "skip"), (convs, "conv")) if n)
        rows.append((name, spec.network.path, spec.network.dataset,
                     "-".join(map(str, spec.layers)), edges, spec.network.description))
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    return 0


#: Optional dependencies, by module: how to install them (setup.cfg's extras).
OPTIONAL = {"cupy": "install the GPU extra: pip install -e \".[gpu]\"",
            "pynvml": "install the GPU extra: pip install -e \".[gpu]\"",
            "sphinx": "install the docs extra: pip install -e \".[docs]\""}


def _interrupted(args, exc) -> str:
    """What a Ctrl-C leaves: a training run says where it stands (:class:`Interrupted`), a
    sweep how to go on; other commands wrote nothing that an interrupt can leave half
    done (every file is written whole or not at all)."""
    from .training import Interrupted

    if isinstance(exc, Interrupted):
        return str(exc)
    if args.command == "sweep" and args.sweep:
        return (f"interrupted; the sweep's folder keeps every finished point (continue "
                f"with: eqspike sweep {args.sweep}" + (f" --out {args.out}" if args.out
                                                       else "") + ")")
    return "interrupted; no file was left half written"


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    command = {"train": _train, "evaluate": _evaluate, "energy": _energy,
               "plasticity": _plasticity, "gdu": _gdu, "sweep": _sweep,
               "networks": _networks}[args.command]
    try:
        return command(args)
    except EqspikeError as exc:
        # an expected failure (eqspike.errors): one line; anything else keeps its traceback
        print(f"eqspike: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # the filesystem refused (a figure or folder in a read-only place, a full disk)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"eqspike: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"eqspike: {_interrupted(args, exc)}", file=sys.stderr)
        return 130
    except ImportError as exc:
        # an optional dependency a command needs (the GPU baseline's CuPy, NVML)
        extra = OPTIONAL.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        print(f"eqspike: error: {exc.name} is not installed; {extra}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
