"""Stress: Ctrl-C at random moments of a training run, counted.

Starts ``eqspike train`` on the tiny network again and again (chunks of 20 samples: 200
samples in runtime mode, 2000 in the faster compiled one, so that the run outlasts the
wait), sends SIGINT a random 0-1.5 s after its first chunk is saved (to the process,
or with ``--group`` to its whole process group, as a terminal's Ctrl-C does), and checks
what a user must see: status 130 and one "interrupted:" line on stderr (Brian2's WARNING
lines aside). Prints each failure and then how many runs failed. The race it probes: a
SIGINT that lands in one of the weak-reference callbacks Brian2 runs when a network is
freed, where Python swallows the KeyboardInterrupt (:mod:`eqspike.interrupts`).

    python benchmarks/ctrl_c_stress.py [--seconds 300] [--mode runtime] [--group] [--seed 3]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    from eqspike import runfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--mode", choices=("runtime", "standalone"), default="runtime")
    parser.add_argument("--group", action="store_true",
                        help="signal the whole process group (a terminal's Ctrl-C)")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    runs = failures = 0
    t0 = time.time()
    with tempfile.TemporaryDirectory() as folder:
        while time.time() - t0 < args.seconds:
            run = Path(folder) / f"run{runs}.h5"
            process = subprocess.Popen(
                [sys.executable, "-m", "eqspike.cli", "train", "--network", "tiny", "--mode",
                 args.mode, "--train-samples", "200" if args.mode == "runtime" else "2000",
                 "--chunk-samples", "20",
                 "--test-samples", "10", "--out", str(run), "--quiet"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                start_new_session=True)
            deadline = time.time() + 600
            while not runfile.latest_path(run).exists() and time.time() < deadline:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 1.5))
            if args.group:
                os.killpg(process.pid, signal.SIGINT)
            else:
                process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=600)
            lines = [line for line in err.splitlines() if line.strip() and "WARNING" not in line]
            if not (process.returncode == 130 and len(lines) == 1
                    and "interrupted:" in lines[0]):
                failures += 1
                print(f"run {runs}: status {process.returncode}, stderr:\n{err[-600:]}",
                      flush=True)
            runs += 1
    print(f"{runs} interrupted runs, {failures} without status 130 and the one line "
          f"({args.mode} mode, SIGINT to the {'process group' if args.group else 'process'})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
