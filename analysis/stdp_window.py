"""The STDP window of a training run beside the pairing protocol's, with exponential fits.

    python analysis/stdp_window.py RUN.h5 [--out DIR] [--pairings 5] [--dt nearest|last]

The run must have been trained with ``eqspike train --log-synapses N``. Writes into DIR
(default ``RUN-plasticity/``): stdp_window.png/.csv, stdp_fits.csv, weight_changes.png/.csv
and weight_trajectories.png/.csv; the same as ``eqspike plasticity RUN.h5``, which this
script calls (:func:`eqspike.plasticity.window.plasticity_report`).
"""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    from eqspike import cli

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--out")
    parser.add_argument("--pairings", default="5")
    parser.add_argument("--dt", choices=("nearest", "last"), default="nearest")
    args = parser.parse_args(argv)
    extra = ["--out", args.out] if args.out else []
    return cli.main(["plasticity", args.run, "--pairings", args.pairings, "--dt", args.dt,
                     *extra])


if __name__ == "__main__":
    sys.exit(main())
