"""Running the spiking network: one compiled build, many chunks of samples.

:class:`StandaloneEngine` builds the network of :mod:`eqspike.spiking` once with Brian2's
``cpp_standalone`` device, for a fixed number of samples per chunk, and runs every chunk of
data through that binary with ``device.run(run_args=...)``: new stimuli, targets, phase
signals, weights, biases and learning rates, no recompilation. The build directory is keyed by
the network's structure (:meth:`~eqspike.spec.NetworkSpec.structure_key`) and the chunk size,
so a later run of the same shape reuses it (Brian2 rewrites only changed files; ``make`` then
has nothing to do). A process locks the directory it uses; concurrent processes (a sweep's
workers) take numbered sibling slots, each a cache of its own.

:class:`RuntimeEngine` runs the same model in Brian2's runtime mode (numpy target), building
the network anew for each chunk: slow, but with no compiler, for small tests.

Both take and return plain NumPy arrays (:class:`ChunkResult`); they know nothing of files.
"""

from __future__ import annotations

import fcntl
import gc
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import rules
from .parameters import edge_weight_shape
from .synapses import run_scalars
from .threads import DEFAULT_THREADS, resolve_threads
from .spec import NetworkSpec
from .schedule import EVENT_PHASES, SAMPLE_PAD, padded_sample_signal, phase_signals
from .spiking import build_network

__all__ = ["ChunkResult", "Engine", "StandaloneEngine", "RuntimeEngine", "make_engine",
           "default_build_cache", "default_threads", "DEFAULT_THREADS"]


@dataclass
class ChunkResult:
    """What one chunk returns: the new parameters and what the network did.

    ``readout``: (n, n_out) output spikes in each sample's readout window.
    ``events``: (n, L, 3) spikes of each sample, per layer, in each part of the sample
    (:data:`eqspike.spiking.EVENT_PHASES`); None when the engine does not count events.
    ``logged_spikes``: per layer, (neuron, step) int arrays of the logged neurons' spikes in
    training samples, step counted from the chunk's start; None when not logging.
    ``feedback``: per edge, its own feedback weights B after the chunk (one-way couplings,
    :mod:`eqspike.synapses`), or None.
    """

    weights: list
    biases: list
    readout: np.ndarray
    events: np.ndarray | None
    logged_spikes: list | None = None
    feedback: list | None = None


def default_threads() -> int:
    """The OpenMP threads of a build when the caller does not say: see
    :func:`eqspike.threads.resolve_threads`."""
    return resolve_threads(None)


def default_build_cache() -> Path:
    """``$EQSPIKE_BUILD_CACHE``, else ``$XDG_CACHE_HOME/eqspike/builds`` (or ~/.cache/...)."""
    env = os.environ.get("EQSPIKE_BUILD_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "eqspike" / "builds"


class Engine:
    """Runs chunks of at most ``chunk_samples`` samples of network ``spec``."""

    #: A compiled build has a fixed number of samples: shorter chunks are padded with idle
    #: samples. Runtime mode builds each chunk at its own size.
    pads_chunks = True

    def __init__(self, spec: NetworkSpec, chunk_samples: int, seed: int = 0,
                 count_events: bool = True, log_neurons=None, free_only: bool = False):
        self.spec = spec
        self.chunk_samples = int(chunk_samples)
        self.seed = int(seed)
        self.count_events = bool(count_events)
        #: samples of the free phase alone (:func:`eqspike.schedule.sample_steps`): a build
        #: that evaluates, and cannot train
        self.free_only = bool(free_only)
        if log_neurons is not None:
            if free_only:
                raise ValueError("STDP logging records training samples; a free-phase-only "
                                 "build has none")
            rules.check_loggable(spec)
        #: neurons per layer whose spikes are logged (STDP logging), or None
        self.log_neurons = log_neurons

    @property
    def live(self) -> bool:
        """Whether the engine can run chunks (a standalone build retired by a newer one
        cannot)."""
        return True

    def learning_rates(self, epoch: float = 0) -> tuple[list, list]:
        """The rule's scales per edge and per non-input layer at ``epoch`` (0-based; a fraction
        of an epoch with ``decay_every = "chunk"``): :func:`eqspike.rules.rule_scales`."""
        return rules.rule_scales(self.spec, epoch)

    def run_parameters(self, net, epoch: float = 0) -> list:
        """The run-time scalars of a built network, as (object, variable, value): the rule's
        scales for ``epoch``, and on every object that updates weights (an edge's, a copy
        holding feedback weights) the scalars of the synapse's update
        (:func:`eqspike.synapses.run_scalars`: the bound, and the decay, noise and level
        step ``[synapses]`` asks for).

        Runtime mode sets them as attributes; a standalone build receives them through
        ``run_args``. Both come from here.
        """
        lr_w, lr_b = self.learning_rates(epoch)
        out = [(holder, "lr_w", lr) for holder, lr in zip(net.weights, lr_w)]
        for (w, b), scalars in zip(net.weight_slots(), run_scalars(self.spec)):
            holders = [w.holder] + ([b.holder] if b is not None and b.holder is not w.holder
                                    else [])
            out += [(holder, name, value) for holder in holders
                    for name, value in scalars.items()]
        out += [(group, "lr_b", lr) for group, lr in zip(net.layers[1:], lr_b)]
        return out

    def parameter_arrays(self, net, weights, feedback=None, gains=None) -> list:
        """The arrays a chunk starts from, as (object, variable, flat values): every edge's
        W, its own feedback weights B (one-way couplings), and the device gains of each
        (``gains``: {``W_pre_post`` or ``B_pre_post``: array}, see
        :func:`eqspike.synapses.device_gains`)."""
        out = []
        feedback = feedback or [None] * len(weights)
        for edge, (w_slot, b_slot), w, b in zip(self.spec.edges, net.weight_slots(), weights,
                                                feedback):
            for slot, array, prefix in ((w_slot, w, "W"), (b_slot, b, "B")):
                if slot is None:
                    continue
                if array is None:
                    raise ValueError(f"edge {edge.pre} -> {edge.post} has feedback weights of "
                                     "its own: pass them (feedback=)")
                out.append((slot.holder, slot.variable, slot.flat(array)))
                gain = (gains or {}).get(f"{prefix}_{edge.pre}_{edge.post}")
                if gain is not None:
                    out.append((slot.holder, slot.gain, slot.flat(gain)))
        return out

    def set_run_parameters(self, net, epoch: float = 0) -> None:
        """Set :meth:`run_parameters` on a network built for runtime mode."""
        for owner, name, value in self.run_parameters(net, epoch):
            setattr(owner, name, value)

    def run_chunk(self, rates, targets, kinds, weights, biases, epoch: float = 0,
                  feedback=None, gains=None) -> ChunkResult:
        """Run samples ``rates`` (n, n_in) with one-hot ``targets`` (n, n_out).

        ``kinds`` (n,) says what each sample does: SAMPLE_TRAIN or SAMPLE_EVAL; ``epoch``
        (the position in the schedule, :func:`eqspike.rules.schedule_position`)
        selects the learning rates. ``feedback`` and ``gains``: the feedback weights B per
        edge and the device gains, with ``[synapses]`` that has them
        (:meth:`parameter_arrays`).
        """
        n = len(rates)
        if not 0 < n <= self.chunk_samples:
            raise ValueError(f"a chunk holds 1..{self.chunk_samples} samples, got {n}")
        pad = self.chunk_samples - n
        if pad and self.pads_chunks:
            rates = np.vstack([rates, np.zeros((pad, rates.shape[1]))])
            targets = np.vstack([targets, np.zeros((pad, targets.shape[1]))])
            kinds = np.r_[kinds, np.full(pad, SAMPLE_PAD)]
        result = self._run(np.asarray(rates, float), np.asarray(targets, float),
                           np.asarray(kinds), weights, biases, epoch, feedback, gains)
        result.readout = result.readout[:n]
        if result.events is not None:
            result.events = result.events[:n]
        return result

    def _run(self, rates, targets, kinds, weights, biases, epoch, feedback,
             gains) -> ChunkResult:
        raise NotImplementedError

    @staticmethod
    def _collect(net, n_samples) -> ChunkResult:
        shapes = [edge_weight_shape(net.spec, e) for e in net.spec.edges]
        slots = net.weight_slots()
        weights = [w.read(shape) for (w, _), shape in zip(slots, shapes)]
        feedback = [None if b is None else b.read(shape) for (_, b), shape in zip(slots, shapes)]
        biases = [np.asarray(g.b[:], dtype=float) for g in net.layers[1:]]
        # monitors record at every sample boundary, before the reset: row k + 1 is sample k
        counts = np.asarray(net.readout_monitor.count)  # (n_out, n_samples + 1)
        readout = counts[:, 1:n_samples + 1].T.copy()
        events = None
        if net.event_monitor is not None:
            events = np.stack([np.asarray(getattr(net.event_monitor, phase))[:, 1:n_samples + 1].T
                               for phase in EVENT_PHASES], axis=-1)
        logged = None
        if net.log_monitors:
            dt = net.spec.spiking.dt_ms * 1e-3
            logged = [(np.asarray(m.i[:], dtype=np.int64),
                       np.rint(np.asarray(m.t_[:]) / dt).astype(np.int64))
                      for m in net.log_monitors]
        return ChunkResult(weights, biases, readout, events, logged,
                           feedback if any(b is not None for b in feedback) else None)


class RuntimeEngine(Engine):
    """Brian2 runtime mode (numpy target): builds the network for every chunk."""

    pads_chunks = False

    def _run(self, rates, targets, kinds, weights, biases, epoch, feedback, gains):
        import brian2 as b2

        b2.set_device("runtime")
        b2.prefs.codegen.target = "numpy"
        # Ctrl-C interrupts (Brian2's default stops the run early and returns, which would
        # leave a chunk half run); the objects an interrupt abandons need no warning
        b2.prefs.core.stop_on_keyboard_interrupt = False
        b2.BrianLogger.suppress_name("unused_brian_object")
        b2.seed(self.seed)
        net = build_network(self.spec, len(rates), rates=rates, targets=targets, kinds=kinds,
                            weights=weights, biases=biases, count_events=self.count_events,
                            log_neurons=self.log_neurons, free_only=self.free_only)
        self.set_run_parameters(net, epoch)
        for holder, name, values in self.parameter_arrays(net, weights, feedback, gains):
            setattr(holder, name, values)
        dt = self.spec.spiking.dt_ms * b2.ms
        net.network.run(net.duration_steps * dt, namespace={})
        if net.network.t < (net.duration_steps - 0.5) * dt:
            # a run stopped early (Brian2's own Ctrl-C handling, where another caller turned
            # it back on): the chunk is incomplete, so the interrupt goes on as one
            raise KeyboardInterrupt
        return self._collect(net, len(rates))


class StandaloneEngine(Engine):
    """One ``cpp_standalone`` build, run once per chunk through ``run_args``.

    Brian2's standalone device is global to the process, so one engine is live at a time:
    creating a second one retires the first (using it then raises a clear error).

    ``threads``: OpenMP threads of the build (Brian2's ``openmp_threads``; 0: none, the
    plain sequential code); None: :func:`default_threads`. ``profile``: time every code
    object (Brian2's ``profile=True``, a build of its own), see :meth:`profiling_info`. Threads change the order of
    floating-point sums, so results agree with a sequential build within rounding at first
    and may drift apart where a rounding difference moves a spike (see the tests).
    """

    _live = None  # the engine whose build the device currently holds

    def __init__(self, spec: NetworkSpec, chunk_samples: int, seed: int = 0,
                 cache_dir: str | os.PathLike | None = None, count_events: bool = True,
                 log_neurons=None, threads: int | None = None, profile: bool = False,
                 free_only: bool = False):
        super().__init__(spec, chunk_samples, seed, count_events, log_neurons, free_only)
        import brian2 as b2

        self.threads = resolve_threads(threads)
        self.profile = bool(profile)
        root = Path(cache_dir) if cache_dir is not None else default_build_cache()
        root.mkdir(parents=True, exist_ok=True)
        if StandaloneEngine._live is not None:
            StandaloneEngine._live._retire()
        variant = ("" if count_events else "-nocount") + ("-log" if log_neurons else "")
        variant += (f"-t{self.threads}" if self.threads else "") + ("-prof" if profile else "")
        variant += "-free" if free_only else ""
        self.directory, self._lock = self._claim(
            root / f"{spec.structure_key()}-n{self.chunk_samples}{variant}")
        b2.set_device("cpp_standalone", build_on_run=False)
        device = b2.get_device()
        device.reinit()
        gc.collect()   # after reinit, which drops the device's references to a retired build
        device.activate(build_on_run=False)
        b2.prefs.devices.cpp_standalone.openmp_threads = self.threads
        b2.seed(self.seed)
        self.net = build_network(spec, self.chunk_samples, count_events=count_events,
                                 log_neurons=log_neurons, free_only=free_only)
        dt = spec.spiking.dt_ms * b2.ms
        self.net.network.run(self.net.duration_steps * dt, namespace={}, profile=self.profile)
        device.build(directory=str(self.directory), run=False, with_output=False)
        self.device = device
        # only the signals some code reads exist in the build (the binary refuses the rest:
        # e.g. ``phase``, read only by the event counters, in a build without them)
        self._signals = {k: v for k, v in self.net.signals.items() if v in device.timed_arrays}
        StandaloneEngine._live = self

    @property
    def live(self) -> bool:
        return StandaloneEngine._live is self

    def profiling_info(self) -> list:
        """(code object name, seconds) of the last chunk, slowest first: Brian2's
        per-code-object profile, for an engine built with ``profile=True``."""
        if not self.profile:
            raise RuntimeError("this engine was built without profile=True")
        return [(name, float(t)) for name, t in self.net.network.profiling_info]

    def _retire(self):
        """Free this engine's build slot and its Brian2 objects. Brian2 names implicit
        objects (clocks, code objects) uniquely among the objects alive in the process: while
        a retired network lived, the next build's names took suffixes (``layer0_clock_1``),
        its generated code differed and ``make`` recompiled every file, on every second
        build of a process (a sweep worker's points)."""
        self._lock.close()
        self.net = self.device = None
        StandaloneEngine._live = None

    @staticmethod
    def _claim(directory: Path):
        """Lock a cached build directory for this process: ``directory`` itself, or, while
        other processes hold it (a sweep's workers, two runs at once), the first free of
        its numbered siblings ``directory-2``, ``-3``, … . Every slot is a build cache of
        its own that later runs of the same shape reuse; the seed is not part of the key,
        since a new seed changes only the main file (one file recompiled, not the project).
        """
        for slot in range(1, 1000):
            candidate = directory if slot == 1 else directory.with_name(f"{directory.name}-{slot}")
            candidate.mkdir(parents=True, exist_ok=True)
            lock = open(candidate / ".lock", "w")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return candidate, lock
            except BlockingIOError:
                lock.close()
        raise RuntimeError(f"no free build slot beside {directory} (999 in use)")

    def _run_binary(self, args) -> None:
        """One run of the compiled build, whole or not at all.

        A Ctrl-C while it runs reaches Brian2's handler, which only records it
        (``Network._globally_stopped``, never reset by the standalone device, so it is
        cleared here first). A terminal's Ctrl-C also reaches the build's process: its own
        handler stops the simulation early and exits normally (Brian2 records the fraction
        it completed), or, at a second signal, it dies and Brian2 raises "Project run
        failed". Either is raised as the interrupt it is, so that no half-run chunk is
        read as a whole one (the runtime engine's check, :meth:`RuntimeEngine._run`). A
        SIGINT to this process alone lets the chunk finish (see :mod:`eqspike.interrupts`
        for how training stops after it)."""
        from brian2.core.network import Network

        Network._globally_stopped = False
        self.device._last_run_completed_fraction = None
        try:
            self.device.run(directory=str(self.directory), with_output=False, run_args=args)
        except RuntimeError as exc:
            Network._globally_running = False      # Brian2 leaves it set when the run fails
            if Network._globally_stopped:
                raise KeyboardInterrupt from exc
            raise
        completed = self.device._last_run_completed_fraction
        if completed is not None and completed < 1.0:
            raise KeyboardInterrupt

    def _run(self, rates, targets, kinds, weights, biases, epoch, feedback, gains):
        if StandaloneEngine._live is not self:
            raise RuntimeError("this StandaloneEngine was retired: a newer one was built in "
                               "the same process, and Brian2's standalone device holds one "
                               "build at a time")
        net = self.net
        steps = phase_signals(self.spec, kinds, logging=self.log_neurons is not None,
                              free_only=self.free_only)
        values = {"stimulus": padded_sample_signal(rates),
                  "target": padded_sample_signal(targets), **steps}
        args = {signal: values[k] for k, signal in self._signals.items()}
        for holder, name, array in self.parameter_arrays(net, weights, feedback, gains):
            args[getattr(holder, name)] = array
        for group, b in zip(net.layers[1:], biases):
            args[group.b] = np.asarray(b, dtype=float)
        for owner, name, value in self.run_parameters(net, epoch):
            args[getattr(owner, name)] = value
        self._run_binary(args)
        result = self._collect(net, len(rates))
        # run_args arrays accumulate on disk (a few MB per chunk): remove them
        self.device.delete(code=False, data=False, run_args=True, directory=False, force=True)
        return result


def make_engine(spec: NetworkSpec, mode: str = "standalone", chunk_samples: int | None = None,
                seed: int = 0, cache_dir=None, count_events: bool = True,
                log_neurons=None, threads: int | None = None,
                free_only: bool = False) -> Engine:
    """The engine for ``mode`` ('standalone' or 'runtime'); ``log_neurons``: per layer, the
    neurons whose spikes STDP logging records (:mod:`eqspike.plasticity.stdp_log`);
    ``threads``: OpenMP threads of a standalone build (None: :func:`default_threads`);
    ``free_only``: a build that evaluates, its samples the T1 free steps alone."""
    chunk = chunk_samples or spec.training.chunk_samples
    if mode == "standalone":
        return StandaloneEngine(spec, chunk, seed, cache_dir, count_events, log_neurons,
                                threads, free_only=free_only)
    if mode == "runtime":
        return RuntimeEngine(spec, chunk, seed, count_events, log_neurons, free_only)
    raise ValueError(f"unknown engine mode {mode!r}; valid: standalone, runtime")
