"""Benchmark: one training epoch of the rate reference against its public PyTorch peer.

The peer is the code of Laborieux et al. 2021, "Scaling Equilibrium Propagation to deep
ConvNets by drastically reducing its gradient estimator bias" (GitHub
Laborieux-Axel/Equilibrium-Propagation, its ``P_MLP`` and ``train``), run unchanged from a
checkout given by ``--peer``. Both train ``mnist-rate``'s setting for one epoch of the 60,000
MNIST images: 784-512-10, hard sigmoid clip(x, 0, 1), T1 = 30, T2 = 10, symmetric nudging
β = ±0.5 (the peer's ``--thirdphase`` with betas 0, 0.5), squared error, plain SGD, batch 50,
learning rates 0.4 / 0.2, U(±1/√fan_in) initial weights. Each side runs in its own process
with one thread (OMP/OpenBLAS/MKL set to 1, and ``torch.set_num_threads(1)``), the sides
alternate (peer, eqspike, peer, eqspike, ...) so that they share the machine's load, and
each reports its training seconds (the epoch's batches, without the test pass) and its test
accuracy on the 10,000 test images after the epoch.

    pip install torch            # the peer's only requirement here (torchvision is not used)
    git clone https://github.com/Laborieux-Axel/Equilibrium-Propagation PEER
    python benchmarks/peer_laborieux.py --peer PEER [--rounds 2] [--precision float32 float64]

The peer reads MNIST through torchvision; this script hands it the same images as tensors
(the same [0, 1] values its ``ToTensor`` gives) and stubs the import, since its model code
uses nothing else from torchvision.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import types

ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _mnist(data_dir, split):
    from eqspike.data import load_dataset, rates_from_images

    data = load_dataset("mnist", split, data_dir, download=False)
    return rates_from_images(data.images).astype("float32"), data.labels.astype("int64")


def run_peer(peer_dir: str, data_dir, seed: int, train_samples: int) -> dict:
    """One epoch of the peer's own training loop, timed around its batches."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    sys.modules.setdefault("torchvision", types.ModuleType("torchvision"))
    sys.path.insert(0, peer_dir)
    import model_utils as peer

    class Images(torch.utils.data.TensorDataset):
        def __init__(self, split):
            x, y = _mnist(data_dir, split)
            n = train_samples if split == "train" else len(x)
            super().__init__(torch.from_numpy(x[:n]).view(-1, 1, 28, 28),
                             torch.from_numpy(y[:n]))
            self.train = split == "train"        # the peer's evaluate() reads it

    train = torch.utils.data.DataLoader(Images("train"), batch_size=50, shuffle=True)
    test = torch.utils.data.DataLoader(Images("test"), batch_size=200, shuffle=False)
    model = peer.P_MLP([784, 512, 10], activation=peer.hard_sigmoid)
    optimizer = torch.optim.SGD([{"params": model.synapses[0].parameters(), "lr": 0.4},
                                 {"params": model.synapses[1].parameters(), "lr": 0.2}],
                                momentum=0.0)
    criterion = torch.nn.MSELoss(reduction="none")
    evaluations = []
    evaluate = peer.evaluate

    def timed_evaluate(*args, **kwargs):        # the test pass, kept out of the epoch time
        t0 = time.perf_counter()
        correct = evaluate(*args, **kwargs)
        evaluations.append((time.perf_counter() - t0, correct))
        return correct

    peer.evaluate = timed_evaluate
    t0 = time.perf_counter()
    peer.train(model, optimizer, train, test, 30, 10, (0.0, 0.5), torch.device("cpu"), 1,
               criterion, alg="EP", thirdphase=True)
    total = time.perf_counter() - t0
    eval_seconds, correct = evaluations[-1]
    return {"side": "peer", "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
            "train_seconds": total - eval_seconds, "test_accuracy": correct / len(test.dataset)}


def run_eqspike(precision: str, data_dir, seed: int, train_samples: int) -> dict:
    """One epoch of ``eqspike train --network mnist-rate`` (the library call behind it)."""
    from eqspike import runfile
    from eqspike.training import train as train_rate
    from eqspike.spec import load_network

    spec = load_network("mnist-rate").replace(
        reference={"precision": precision},
        training={"epochs": 1, "seed": seed, "train_samples": train_samples})
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "run.h5")
        train_rate(spec, path, data_dir=data_dir, progress=False, download=False)
        metrics = runfile.read_run(path).metrics
    return {"side": "eqspike", "dtype": precision,
            "train_seconds": float(metrics["train_seconds"][-1]),
            "test_accuracy": float(metrics["test_accuracy"][-1])}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", required=True, help="a checkout of "
                        "Laborieux-Axel/Equilibrium-Propagation")
    parser.add_argument("--precision", nargs="+", default=["float32", "float64"],
                        choices=["float32", "float64"], help="eqspike's [reference] precision "
                        "(each is one eqspike run per round)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--train-samples", type=int, default=60000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--side", help=argparse.SUPPRESS)      # a child process: one run
    args = parser.parse_args(argv)
    if args.side:
        if args.side == "peer":
            result = run_peer(args.peer, args.data_dir, args.seed, args.train_samples)
        else:
            result = run_eqspike(args.side, args.data_dir, args.seed, args.train_samples)
        print("RESULT " + json.dumps(result))
        return
    if not os.path.isfile(os.path.join(args.peer, "model_utils.py")):
        parser.error(f"--peer {args.peer}: no model_utils.py there (a checkout of "
                     "Laborieux-Axel/Equilibrium-Propagation?)")
    env = {**os.environ, **ONE_THREAD}
    results = []
    for round_ in range(args.rounds):
        for side in ["peer", *args.precision]:
            command = [sys.executable, __file__, "--peer", args.peer, "--side", side,
                       "--seed", str(args.seed), "--train-samples", str(args.train_samples)]
            if args.data_dir:
                command += ["--data-dir", args.data_dir]
            out = subprocess.run(command, env=env, capture_output=True, text=True)
            lines = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")]
            if out.returncode or not lines:
                sys.exit(f"{side} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
            result = {"round": round_ + 1, **json.loads(lines[-1][len("RESULT "):])}
            results.append(result)
            print(f"round {result['round']}: {result['side']:8s} {result['dtype']:8s} "
                  f"{result['train_seconds']:7.1f} s per epoch, test accuracy "
                  f"{100 * result['test_accuracy']:.2f}%", flush=True)
    peer = [r["train_seconds"] for r in results if r["side"] == "peer"]
    for precision in args.precision:
        ours = [r for r in results if r["side"] == "eqspike" and r["dtype"] == precision]
        ratios = [p / r["train_seconds"] for p, r in zip(peer, ours)]
        mine = ", ".join(f"{100 * r['test_accuracy']:.2f}%" for r in ours)
        theirs = ", ".join(f"{100 * r['test_accuracy']:.2f}%" for r in results
                           if r["side"] == "peer")
        print(f"eqspike {precision}: {min(ratios):.1f}x to {max(ratios):.1f}x faster per epoch "
              f"than the peer (round by round); test accuracies {mine} against the peer's "
              f"{theirs}")

if __name__ == "__main__":
    main()
