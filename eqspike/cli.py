"""The ``eqspike`` command: argument parsing, progress and printing, nothing more.

::

    eqspike train [--network mnist] [--epochs N] [--train-samples N] [--seed N] [--out RUN.h5]
    eqspike train --resume RUN.h5
    eqspike evaluate RUN.h5 [--checkpoint NAME]
    eqspike energy RUN.h5 [--device loihi ...] [--baseline gpu] [--out energy.png]
    eqspike networks

Every expected failure (bad data, network or run file, bad arguments, a diverging run)
ends with one line ``eqspike: error: ...`` on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eqspike", description=(
        "Spiking Equilibrium Propagation (EqSpike) in Brian2."))
    sub = parser.add_subparsers(dest="command", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="dataset directory (default: $EQSPIKE_DATA, "
                        "else ~/.cache/eqspike/data, downloading the official files)")
    common.add_argument("--no-download", action="store_true",
                        help="fail instead of downloading missing dataset files")
    common.add_argument("--mode", choices=("standalone", "runtime"), default="standalone",
                        help="Brian2 device: compiled C++ (default) or runtime (numpy)")
    common.add_argument("--test-samples", type=_positive,
                        help="evaluate on the first N test images (default: all)")
    common.add_argument("--quiet", action="store_true", help="no progress bars")

    tr = sub.add_parser("train", parents=[common], help="train a spiking network")
    tr.add_argument("--network", default="mnist",
                    help="a name in networks/ or a path to a .toml file (default: mnist)")
    tr.add_argument("--epochs", type=_positive, help="override [training] epochs")
    tr.add_argument("--train-samples", type=_positive,
                    help="override [training] train_samples (per epoch)")
    tr.add_argument("--seed", type=_non_negative, help="override [training] seed")
    tr.add_argument("--chunk-samples", type=_positive,
                    help="override [training] chunk_samples (samples per compiled run)")
    tr.add_argument("--out", help="run file to write (default: runs/NETWORK-seedS-TIME.h5)")
    tr.add_argument("--resume", metavar="RUN.h5",
                    help="continue this run file from its last checkpoint")

    ev = sub.add_parser("evaluate", parents=[common],
                        help="test accuracy of a run file's weights")
    ev.add_argument("run", help="an eqspike run file (.h5)")
    ev.add_argument("--checkpoint", help="checkpoint name (default: the last epoch's)")

    en = sub.add_parser("energy", help="energy per inference and per training sample, "
                        "per device, from a run file's counted events")
    en.add_argument("run", help="an eqspike run file (.h5)")
    en.add_argument("--device", action="append", dest="devices", metavar="NAME",
                    help="a device preset (repeatable; default: all)")
    en.add_argument("--devices-file", help="TOML file of extra devices (see "
                    "eqspike/energy_devices.toml for the form)")
    en.add_argument("--baseline", default="gpu", help="conventional device for the ratio "
                    "(default: gpu)")
    en.add_argument("--batch", type=_positive, default=50,
                    help="batch size of the GPU baseline (default: 50)")
    en.add_argument("--breakdown", action="store_true",
                    help="also print the per-layer, per-part breakdown of every device")
    en.add_argument("--out", default="energy.png", help="bar chart PNG (default: energy.png)")

    sub.add_parser("networks", help="list the named networks")
    return parser


def _train(args) -> int:
    from .spec import load_network
    from .training import train

    if args.resume:
        if (args.out or args.epochs or args.train_samples or args.chunk_samples
                or args.seed is not None):
            raise ValueError("--resume continues a run as it was defined; it takes no "
                             "--out, --epochs, --train-samples, --chunk-samples or --seed")
        path = Path(args.resume)
        spec = None
    else:
        spec = load_network(args.network)
        overrides = {k: v for k, v in (("epochs", args.epochs),
                                        ("train_samples", args.train_samples),
                                        ("seed", args.seed),
                                        ("chunk_samples", args.chunk_samples)) if v is not None}
        if overrides:
            spec = spec.replace(training=overrides)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path(args.out or f"runs/{spec.name}-seed{spec.training.seed}-{stamp}.h5")
        print(f"training {spec.name} ({'-'.join(map(str, spec.layers))}, "
              f"{spec.training.epochs} epoch(s) of {spec.training.train_samples} samples, "
              f"seed {spec.training.seed}) -> {path}", flush=True)
    result = train(spec, path, data_dir=args.data_dir, mode=args.mode,
                   resume=bool(args.resume), test_samples=args.test_samples,
                   progress=not args.quiet, download=not args.no_download)
    print(f"test accuracy {result.test_accuracy[-1]:.4f} after {len(result.test_accuracy)} "
          f"epoch(s); {result.seconds:.0f} s in all; run file {result.path}")
    return 0


def _evaluate(args) -> int:
    from .data import load_dataset, rates_from_images
    from .engine import make_engine
    from .runfile import RunFileError, read_run
    from .training import evaluate, progress_bar

    run = read_run(args.run)
    spec = run.spec
    if args.checkpoint:
        if args.checkpoint not in run.checkpoints:
            raise RunFileError(f"{args.run}: no checkpoint {args.checkpoint!r}; valid: "
                               f"{', '.join(sorted(run.checkpoints))}")
        checkpoint, name = run.checkpoints[args.checkpoint], args.checkpoint
    else:
        checkpoint, name = run.final, run.final_name
    test = load_dataset(spec.network.dataset, "test", args.data_dir, not args.no_download)
    n = len(test) if args.test_samples is None else min(args.test_samples, len(test))
    engine = make_engine(spec, args.mode, spec.training.chunk_samples, int(run.attrs["seed"]))
    bar = progress_bar(n, "test", not args.quiet)
    accuracy, _ = evaluate(engine, checkpoint.weights, checkpoint.biases,
                           rates_from_images(test.images[:n]), test.labels[:n].astype(int), bar)
    if bar is not None:
        bar.close()
    print(f"{args.run} [{name}]: test accuracy {accuracy:.4f} on {n} images")
    return 0


def _energy(args) -> int:
    from . import energy

    if args.devices_file:
        for device in energy.load_devices(args.devices_file).values():
            energy.register_device(device.name, device.kind, device.source,
                                   **{k: getattr(device, k) for k in
                                      ("synop", "spike", "neuron_update", "synaptic_update",
                                       "mac", "byte")})
    report = energy.energy_report(args.run, args.devices, args.baseline, args.batch)
    print(f"{args.run}: network {report.network} {'-'.join(map(str, report.layers))}, "
          f"epoch {report.epoch}, {report.train_samples} training samples per epoch")
    print(report.counts_table())
    print(report.table())
    if args.breakdown:
        for name in report.energy:
            for workload in ("inference", "training"):
                print(report.breakdown(name, workload))
    print("Assumptions: " + energy.ASSUMPTIONS)
    for name in report.energy:
        print(f"  {name}: {energy.DEVICES[name].source}")
    energy.plot_report(report, args.out)
    print(f"bar chart: {args.out}")
    return 0


def _networks(args) -> int:
    from .spec import available_networks, load_network

    for name in available_networks():
        spec = load_network(name)
        print(f"{name:12s} {'-'.join(map(str, spec.layers)):14s} {spec.network.description}")
    return 0


def main(argv=None) -> int:
    from .data import DataError
    from .energy import EnergyError
    from .runfile import RunFileError
    from .spec import SpecError
    from .training import TrainingDiverged

    args = _parser().parse_args(argv)
    command = {"train": _train, "evaluate": _evaluate, "energy": _energy,
               "networks": _networks}[args.command]
    try:
        return command(args)
    except (DataError, SpecError, RunFileError, TrainingDiverged, EnergyError,
            ValueError) as exc:
        print(f"eqspike: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("eqspike: interrupted; the run file keeps every finished chunk "
              "(continue with: eqspike train --resume RUN.h5)", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
