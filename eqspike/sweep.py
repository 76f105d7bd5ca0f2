"""Sweeps: many training runs of one network, varied and seeded, as Dask tasks.

A study is many runs: β, η, T1/T2, the trace constant, the rule and the seed are swept, and
every point is an ordinary training run (:func:`eqspike.training.train`, on the network's
engine) writing its own run file. A sweep file says which::

    [sweep]
    network = "tiny"                 # the base network: a name in networks/ or a path
    seeds = [1, 2]                   # every point runs once per seed ([training] seed)
    combine = "grid"                 # grid: every combination of [vary]; zip: i-th together
    test_samples = 2000              # test images per evaluation (default: all)
    mode = "standalone"              # Brian2 device of spiking points (runtime: no compiler)

    [vary]                           # "table.field" = [values], any field of a network file
    "phases.beta" = [0.5, 1.0]
    "learning.rates" = [[0.05, 0.05], [0.1, 0.1]]

    [set]                            # "table.field" = value, the same for every point
    "training.train_samples" = 2000

A sweep directory (``--out``, default ``runs/sweep-NAME``) holds ``sweep.toml`` (the file as
started), ``index.csv`` (a row per point: the varied values, seed, status, attempts (every
try of the point: the first, Dask's retries after an exception and its reschedules after a
worker died, over every invocation of the sweep; one line each in ``runs/POINT.attempts``),
run file, final and best test accuracy, test images, training seconds (the sum of the run
file's per-epoch ``train_seconds``: the training that produced the weights, see
:func:`eqspike.training.train`), error), ``runs/POINT.h5`` and ``sweep.png`` (final test
accuracy against each varied field, mean ± s.d. over seeds).

Execution is Dask distributed: a :class:`~distributed.LocalCluster` by default (one worker
process per core, one thread each) or any scheduler (``--scheduler ADDRESS``, e.g. one that
dask-jobqueue started on SLURM or PBS). Each point runs in one task; a standalone build is
locked by the process that uses it and a busy build takes the next numbered slot of the
same shape's cache (:meth:`eqspike.engine.StandaloneEngine._claim`), so concurrent builds
never collide and compiled code is reused. Faults: a failed point is retried once, then
recorded with its one-line error; a task whose worker dies is rescheduled by Dask and
resumes from the point's last checkpoint; a killed sweep run again with the same file and
directory skips the complete points and resumes the interrupted ones (``--resume`` of each
run). A point's run file names its sweep and point (attributes ``sweep``, ``sweep_point``).
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import os
import re
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import EqspikeError, shown
from .data import load_dataset
from .spec import load_network

__all__ = ["SweepError", "Sweep", "Point", "load_sweep", "parse_sweep", "run_point",
           "run_sweep", "sweep_directory", "read_index", "status_table", "INDEX_FIELDS"]

INDEX_FIELDS = ("point", "seed", "values", "status", "attempts", "run_file",
                "final_test_accuracy", "best_test_accuracy", "test_images", "train_seconds",
                "error")
STATUSES = ("pending", "running", "complete", "failed")


class SweepError(EqspikeError, ValueError):
    """A sweep file or directory that cannot be used; the message says why."""


@dataclass(frozen=True)
class Point:
    """One run of a sweep: its name, the fields it changes and its seed."""

    name: str
    values: dict          # "table.field" -> value (the varied ones)
    seed: int


@dataclass
class Sweep:
    """A parsed sweep file."""

    name: str
    network: str
    seeds: list
    vary: dict            # "table.field" -> [values]
    fixed: dict = field(default_factory=dict)
    combine: str = "grid"
    test_samples: int | None = None
    mode: str = "standalone"
    text: str = ""

    def points(self) -> list:
        """Every (values, seed) of the sweep, in a fixed order, with unique names."""
        keys = list(self.vary)
        if self.combine == "grid":
            combos = list(itertools.product(*(self.vary[k] for k in keys)))
        else:
            combos = list(zip(*(self.vary[k] for k in keys)))
        out = []
        for c, combo in enumerate(combos):
            values = dict(zip(keys, combo))
            label = "-".join(f"{k.split('.')[-1]}={_slug(v)}" for k, v in values.items())
            for seed in self.seeds:
                out.append(Point(f"p{c:03d}-{label}-seed{seed}", values, int(seed)))
        return out

    def spec_for(self, point: Point):
        """The network definition of a point: the base network with [set], the point's values
        and its seed (validated like any network file)."""
        spec = load_network(self.network)
        changes: dict = {}
        for key, value in {**self.fixed, **point.values}.items():
            table, name = key.split(".", 1)
            changes.setdefault(table, {})[name] = value
        changes.setdefault("training", {})["seed"] = point.seed
        return dataclasses.replace(spec.replace(**changes), name=f"{spec.name}@{point.name}")


def _slug(value) -> str:
    text = "_".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return re.sub(r"[^A-Za-z0-9_.+-]", "", text)


def load_sweep(path) -> Sweep:
    """Read and check a sweep file (see :func:`parse_sweep`)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SweepError(f"cannot read sweep file {path}: {exc}") from None
    return parse_sweep(text, path.stem, str(path))


def parse_sweep(text: str, name: str, where: str = "<sweep>") -> Sweep:
    """A sweep from its file's text; every point's network definition is validated here,
    before anything runs (``name``: the default sweep name; ``where``: for messages)."""
    path = where
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SweepError(f"{path}: not valid TOML ({exc})") from None
    unknown = set(raw) - {"sweep", "vary", "set"}
    if unknown:
        raise SweepError(f"{path}: unknown table(s) {', '.join(sorted(unknown))}; valid: "
                         "sweep, vary, set")
    for table in ("sweep", "vary", "set"):
        if not isinstance(raw.get(table, {}), dict):
            raise SweepError(f"{path}: [{table}] must be a table, got {shown(raw[table])}")
    head = raw.get("sweep", {})
    known = {"name", "network", "seeds", "combine", "test_samples", "mode"}
    if set(head) - known:
        raise SweepError(f"{path}: unknown field(s) {', '.join(sorted(set(head) - known))} "
                         f"in [sweep]; valid: {', '.join(sorted(known))}")
    if "network" not in head:
        raise SweepError(f"{path}: [sweep] network is missing (a name in networks/ or a path)")
    for key in ("network", "name"):
        if key in head and (not isinstance(head[key], str) or not head[key].strip()):
            raise SweepError(f"{path}: [sweep] {key} must be a non-empty string, got "
                             f"{shown(head[key])}")
    seeds = head.get("seeds", [1])
    if (not isinstance(seeds, list) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2 ** 32
                       for s in seeds)):
        raise SweepError(f"{path}: [sweep] seeds must be a non-empty list of integers from 0 "
                         "to 2**32 - 1")
    if len(set(seeds)) < len(seeds):
        raise SweepError(f"{path}: [sweep] seeds: a seed given twice")
    vary = raw.get("vary", {})
    if not vary:
        raise SweepError(f"{path}: [vary] is empty: name at least one \"table.field\" = [values]")
    for key, values in vary.items():
        if "." not in key:
            raise SweepError(f"{path}: [vary] {key!r}: write fields as \"table.field\"")
        if not isinstance(values, list) or not values:
            raise SweepError(f"{path}: [vary] {key!r}: expected a non-empty list of values")
    combine = head.get("combine", "grid")
    if combine not in ("grid", "zip"):
        raise SweepError(f"{path}: [sweep] combine {combine!r} is not one of grid, zip")
    if combine == "zip" and len({len(v) for v in vary.values()}) > 1:
        raise SweepError(f"{path}: combine = \"zip\" needs lists of one length in [vary]")
    mode = head.get("mode", "standalone")
    if mode not in ("standalone", "runtime"):
        raise SweepError(f"{path}: [sweep] mode {mode!r} is not one of standalone, runtime")
    test_samples = head.get("test_samples")
    if test_samples is not None and (not isinstance(test_samples, int)
                                     or isinstance(test_samples, bool) or test_samples < 1):
        raise SweepError(f"{path}: [sweep] test_samples must be an integer >= 1, got "
                         f"{shown(test_samples)}")
    for key in raw.get("set", {}):
        if "." not in key:
            raise SweepError(f"{path}: [set] {key!r}: write fields as \"table.field\"")
    sweep = Sweep(name=head.get("name", name), network=head["network"], seeds=seeds,
                  vary=vary, fixed=raw.get("set", {}), combine=combine,
                  test_samples=test_samples, mode=mode, text=text)
    names = [p.name for p in sweep.points()]
    if len(set(names)) < len(names):
        raise SweepError(f"{path}: two points of [vary] are the same run (a value given twice)")
    from .data import check_split_size

    for point in sweep.points():
        try:
            spec = sweep.spec_for(point)
            spec.check_dataset()
            check_split_size(spec, "test", test_samples)
        except EqspikeError as exc:
            raise SweepError(f"{path}: point {point.name}: {exc}") from None
    return sweep



# -- one point, in a worker -----------------------------------------------------------------

def run_point(sweep_text: str, sweep_name: str, point: Point, run_path: str,
              data_dir=None, download: bool = True) -> dict:
    """Run (or resume, or merely read) one point's training; returns its summary.

    A complete run file is read, not rerun; a running one (its worker died, or the sweep was
    killed) resumes from its last checkpoint; a missing one starts.
    """
    from . import runfile

    _import_brian2_in_a_thread()
    sweep = parse_sweep(sweep_text, sweep_name)
    spec = sweep.spec_for(point)
    path = Path(run_path)
    record_attempt(path)
    status = None
    if path.exists():
        try:
            status = runfile.read_run(path).attrs.get("status")
        except runfile.RunFileError:
            status = None
    if status != "complete":
        resume = status == "running"
        # a resumed point's file recorded the sweep's test_samples: passing it again is
        # allowed; a file that cannot be read (not a run) is the sweep's own: replaced
        common = dict(data_dir=data_dir, resume=resume, test_samples=sweep.test_samples,
                      progress=False, download=download, overwrite=not resume,
                      run_attrs={"sweep": sweep.name, "sweep_point": point.name})
        from .training import train

        train(None if resume else spec, path, mode=sweep.mode, **common)
    return summarise(path)


def attempts_path(run_path) -> Path:
    """``runs/POINT.attempts`` beside a point's run file: a line per try of the point."""
    return Path(run_path).with_suffix(".attempts")


def record_attempt(run_path) -> None:
    """Append a line for this try of a point (its process and time). Every try starts here,
    whether the sweep started it, Dask retried it after an exception or rescheduled it after
    its worker died, so the lines count them all."""
    with open(attempts_path(run_path), "a") as f:
        f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} pid {os.getpid()}\n")


def count_attempts(run_path) -> int:
    """How many times a point was tried (:func:`record_attempt`), over every invocation."""
    try:
        return len(attempts_path(run_path).read_text().splitlines())
    except FileNotFoundError:
        return 0


def _import_brian2_in_a_thread() -> None:
    """Import Brian2 where a Dask worker runs tasks: in a thread other than the main one,
    where its import-time ``signal.signal(SIGINT, ...)`` (a handler that lets Ctrl-C stop a
    run cleanly) would raise. A worker has no terminal to interrupt, so the handler is
    skipped there."""
    import signal
    import threading

    if "brian2" in sys.modules or threading.current_thread() is threading.main_thread():
        return
    install = signal.signal
    signal.signal = lambda *args, **kwargs: None
    try:
        import brian2  # noqa: F401
    finally:
        signal.signal = install


def summarise(path) -> dict:
    """The index columns a finished run file gives."""
    from . import runfile

    run = runfile.read_run(path)
    m = run.metrics
    return {"final_test_accuracy": float(m["test_accuracy"][-1]),
            "best_test_accuracy": float(np.max(m["test_accuracy"])),
            "test_images": int(m["test_images"][-1]),
            "train_seconds": float(np.sum(m["train_seconds"])),
            "status": run.attrs.get("status", "running")}


# -- the index --------------------------------------------------------------------------------

def read_index(directory) -> dict:
    """{point: row} of a sweep directory's ``index.csv`` ({} if none);
    :class:`SweepError` for an index that is not one (other columns, an unknown status, a
    point twice: damaged, or written by something else)."""
    path = Path(directory) / "index.csv"
    if not path.exists():
        return {}
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            fields = tuple(reader.fieldnames or ())
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SweepError(f"{path}: cannot read the sweep index ({exc})") from None
    if fields != INDEX_FIELDS:
        raise SweepError(f"{path}: damaged sweep index: its columns are not "
                         f"{', '.join(INDEX_FIELDS)}")
    out = {}
    for n, row in enumerate(rows, start=2):
        if row["status"] not in STATUSES or None in row or row["point"] in out:
            raise SweepError(f"{path}: damaged sweep index at line {n}")
        out[row["point"]] = row
    return out


def _write_index(directory, rows: dict) -> None:
    path = Path(directory) / "index.csv"
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=INDEX_FIELDS)
        writer.writeheader()
        for row in rows.values():
            writer.writerow({k: row.get(k, "") for k in INDEX_FIELDS})
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _status_counts(rows: dict) -> dict:
    """{status: number of points} of an index, for every status."""
    return {s: sum(r["status"] == s for r in rows.values()) for s in STATUSES}


def status_table(directory) -> str:
    """Where a sweep stands: counts per status and a line per point."""
    rows = read_index(directory)
    if not rows:
        raise SweepError(f"{directory}: no index.csv: not a sweep directory (or not started)")
    counts = _status_counts(rows)
    lines = [f"{directory}: {len(rows)} points: " + ", ".join(f"{n} {s}" for s, n in
                                                              counts.items())]
    for r in rows.values():
        try:
            acc = f"{100 * float(r['final_test_accuracy']):6.2f}%" \
                if r["final_test_accuracy"] else "      –"
        except ValueError:
            raise SweepError(f"{directory}/index.csv: damaged sweep index (point "
                             f"{r['point']})") from None
        error = f"  {r['error']}" if r["error"] else ""
        lines.append(f"  {r['point']:48s} {r['status']:9s} {acc}{error}")
    return "\n".join(lines)


# -- the driver ---------------------------------------------------------------------------------

def _client(scheduler, workers):
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None
    cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                           processes=True, dashboard_address=":0")
    return Client(cluster), cluster


def sweep_directory(sweep: "Sweep", out_dir=None) -> Path:
    """Where a sweep's results go: ``out_dir``, else ``runs/sweep-NAME``."""
    return Path(out_dir or f"runs/sweep-{sweep.name}")


def run_sweep(sweep_path, out_dir=None, *, scheduler: str | None = None,
              workers: int | None = None, data_dir=None, download: bool = True,
              progress: bool = True, retries: int = 1, mode: str | None = None) -> dict:
    """Run every point of a sweep file on Dask that is not complete yet; returns the index.

    ``out_dir`` (default ``runs/sweep-NAME``) may hold a killed run of the same sweep file:
    complete points are skipped, interrupted ones resume. ``mode`` overrides the file's
    ``[sweep] mode``.
    """
    sweep = load_sweep(sweep_path)
    if mode:
        sweep.mode = mode
    out = sweep_directory(sweep, out_dir)
    stored = out / "sweep.toml"
    if out.exists() and not out.is_dir():
        raise SweepError(f"{out}: is a file; --out names the sweep's folder")
    if out.exists() and not stored.exists() and any(out.iterdir()):
        raise SweepError(f"{out}: a folder that holds other files, not a sweep; give another "
                         "--out")
    if stored.exists() and stored.read_text() != sweep.text:
        raise SweepError(f"{out} holds another sweep (its sweep.toml differs from "
                         f"{sweep_path}); give another --out")
    read_index(out)                                 # a damaged index stops here
    spec = load_network(sweep.network)
    for split in ("train", "test"):                 # the data, before the folder is made
        load_dataset(spec.network.dataset, split, data_dir, download)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    if not stored.exists():
        stored.write_text(sweep.text)
    points = sweep.points()
    rows = read_index(out)
    for p in points:
        row = rows.setdefault(p.name, {"point": p.name, "seed": p.seed, "attempts": 0,
                                       "run_file": f"runs/{p.name}.h5",
                                       "values": json.dumps(p.values), "status": "pending"})
        if row["status"] != "complete":
            row["status"], row["error"] = "pending", ""
    todo = [p for p in points if rows[p.name]["status"] != "complete"]
    _write_index(out, rows)
    if not todo:
        _plot(out, sweep, rows)
        return rows

    client, cluster = _client(scheduler, workers)
    try:
        if progress:
            print(f"sweep {sweep.name}: {len(points)} points, {len(todo)} to run on "
                  f"{len(client.scheduler_info()['workers'])} Dask worker(s); dashboard "
                  f"{client.dashboard_link}", flush=True)
        futures = {}
        for p in todo:
            future = client.submit(run_point, sweep.text, sweep.name, p,
                                   str(out / rows[p.name]["run_file"]), data_dir, download,
                                   key=f"eqspike-{sweep.name}-{p.name}", retries=retries,
                                   pure=False)
            futures[future] = p
        _follow(client, futures, rows, out, progress)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    _plot(out, sweep, rows)
    return rows


def _follow(client, futures: dict, rows: dict, out: Path, progress: bool) -> None:
    """Update the index as points finish, with a progress bar: done, running, failed."""
    from distributed import wait

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(futures), desc="points", unit="point", dynamic_ncols=True)
    remaining = set(futures)
    while remaining:
        try:
            done, remaining = wait(list(remaining), timeout=2, return_when="FIRST_COMPLETED")
        except TimeoutError:                        # nothing finished in 2 s
            done = set()
        running_keys = _executing(client)
        for future in done:
            p = futures[future]
            row = rows[p.name]
            row["attempts"] = count_attempts(out / row["run_file"])
            if future.status == "finished":
                row.update(future.result(), error="")
            else:
                exc = future.exception()
                message = " ".join(f"{type(exc).__name__}: {exc}".split())
                row.update(status="failed", error=message[:300])
            if bar is not None:
                bar.update(1)
        for future in remaining:
            rows[futures[future].name]["status"] = ("running" if future.key in running_keys
                                                    else "pending")
        _write_index(out, rows)
        if bar is not None:
            counts = _status_counts(rows)
            bar.set_postfix(done=counts["complete"], running=counts["running"],
                            failed=counts["failed"])
    if bar is not None:
        bar.close()


def _executing(client) -> set:
    """The keys the workers are executing now (a worker's queued tasks are not running)."""
    try:
        found = client.run(lambda dask_worker: [str(ts.key) for ts in
                                                dask_worker.state.executing], on_error="ignore")
    except Exception:  # noqa: BLE001 - a dying worker must not stop the sweep's bookkeeping
        return set()
    return {key for keys in found.values() if isinstance(keys, list) for key in keys}


def _plot(out: Path, sweep: Sweep, rows: dict) -> None:
    """Final test accuracy against each varied field, mean ± s.d. over seeds, one line per
    combination of the other varied fields."""
    from .figures import subplots

    done = [r for r in rows.values() if r["status"] == "complete"]
    if not done:
        return
    keys = list(sweep.vary)
    fig, axes = subplots(1, len(keys), figsize=(5.2 * len(keys), 4), squeeze=False)
    for ax, key in zip(axes[0], keys):
        levels = [json.dumps(v) for v in sweep.vary[key]]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool)
                      for v in sweep.vary[key])
        x = sweep.vary[key] if numeric else list(range(len(levels)))
        groups: dict = {}
        for r in done:
            values = json.loads(r["values"])
            others = ", ".join(f"{k.split('.')[-1]}={_slug(values[k])}" for k in keys
                               if k != key)
            groups.setdefault(others, {}).setdefault(json.dumps(values[key]), []).append(
                100 * float(r["final_test_accuracy"]))
        for c, (label, by_level) in enumerate(sorted(groups.items())):
            xs, means, sds = [], [], []
            for xv, level in zip(x, levels):
                if level in by_level:
                    xs.append(xv)
                    means.append(np.mean(by_level[level]))
                    sds.append(np.std(by_level[level]))
            ax.errorbar(xs, means, yerr=sds, fmt="o-", capsize=3, color=f"C{c}",
                        label=label or "all points")
        if not numeric:
            ax.set_xticks(x, [_slug(v) for v in sweep.vary[key]], rotation=20)
        ax.set_xlabel(key)
        ax.set_ylabel("final test accuracy (%), mean ± s.d. over seeds")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"sweep {sweep.name}: {len(done)} complete runs of {sweep.network}, seeds "
                 f"{sweep.seeds}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "sweep.png", dpi=120)
