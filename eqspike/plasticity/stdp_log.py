"""STDP signatures logged during training: every weight change of a sample of synapses.

For a sampled set of synapses (:func:`select_synapses`) the simulation records only the
spikes of the neurons they join, in training samples (the ``logged_spike`` event of
:mod:`eqspike.spiking`). Because the ``eqspike`` and ``continual`` rules reading spike
traces are deterministic given spikes (see :mod:`eqspike.rules`), every change
they make to a logged synapse is reconstructed exactly from those spikes::

    eqspike,   at a presynaptic spike of j at step t:   ΔW_ij = lr_w · σ(t) · x_i(t)
               at a postsynaptic spike of i at step t:  ΔW_ij = lr_w · σ(t) · x_j(t)
    continual, the same with dx(t) = x(t) − x(t − 1) in place of x(t) (trace_changes)

with x(t) the trace as the synapse reads it (after the step's decay, before the step's own
spike; reset at every sample boundary; saved and restored with the rest of the free state
under symmetric nudging) and σ(t) the phase sign. A change is kept when it is non-zero.
Each one is stored with the spike that triggered it and the other neuron's spikes around it,
as Δt = t_post − t_pre in steps:

* ``dt_last``: to the other neuron's last spike before the trigger in the same sample (the
  spike whose trace dominates the change): < 0 for a presynaptic trigger, > 0 for a
  postsynaptic one;
* ``dt_nearest``: to the other neuron's nearest spike in the sample, before, at or after the
  trigger (ties go to the earlier one): the Δt of an STDP experiment.

Under symmetric nudging both are sought in the trigger's own timeline: the free phase and
the −β phase, or the free phase and the +β phase that restarts from the free state.

Memory stays bounded however long the run: a chunk's spikes are processed and dropped; per
epoch the logger keeps (a) the binned window of *every* change (count, sum and sum of
squares of ΔW per sign and Δt bin, ``|Δt| ≤ dt_range``, one overflow bin), (b) a uniform
random sample of at most ``max_events`` changes per edge (reservoir by random keys),
and (c) the logged weights after each chunk. Each chunk also checks itself: the logged
changes of a synapse must sum to its weight change over the chunk (``max_mismatch``; exact
up to rounding unless ``[learning] weight_bound`` clipped the weight).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from ..rules import check_loggable, rule_for

__all__ = ["EVENT_DTYPE", "NO_SPIKE", "TRIGGERS", "select_synapses",
           "logged_neurons", "trace_reads", "trace_changes", "LayerSpikes", "layer_spikes",
           "reconstruct_changes", "as_events", "STDPLogger"]

#: One logged weight change. ``sample``: index in the epoch's order; ``step``: in the sample;
#: ``synapse``: index in the edge's selection; ``trigger``: 0 presynaptic spike,
#: 1 postsynaptic spike; ``sign``: σ; ``dw``: the change; Δt in steps (NO_SPIKE: none).
EVENT_DTYPE = np.dtype([("sample", "i8"), ("step", "i4"), ("synapse", "i4"), ("trigger", "i1"),
                        ("sign", "i1"), ("dw", "f8"), ("dt_nearest", "i4"), ("dt_last", "i4")])
NO_SPIKE = np.iinfo(np.int32).max
TRIGGERS = ("pre", "post")


def select_synapses(spec, per_pair: int, seed: int = 0) -> list:
    """``per_pair`` synapses of every edge of the graph (in the order of ``spec.edges``), as
    (pre, post) index arrays.

    The synapses are drawn from the block joining ⌈√N⌉ random presynaptic and as many
    random postsynaptic neurons, so that few neurons (whose spikes the simulation records)
    cover many synapses.
    """
    if per_pair < 1:
        raise UsageError(f"log at least one synapse per edge, got {per_pair}")
    rng = np.random.default_rng([seed, 4])
    out = []
    for n_pre, n_post in ((spec.layers[e.pre], spec.layers[e.post]) for e in spec.edges):
        n = min(per_pair, n_pre * n_post)
        m_post = min(math.isqrt(n - 1) + 1, n_post)
        m_pre = min(-(-n // m_post), n_pre)
        m_post = min(-(-n // m_pre), n_post)
        pre_neurons = np.sort(rng.choice(n_pre, m_pre, replace=False))
        post_neurons = np.sort(rng.choice(n_post, m_post, replace=False))
        pre, post = (a.ravel() for a in np.meshgrid(pre_neurons, post_neurons, indexing="ij"))
        keep = np.sort(rng.choice(len(pre), n, replace=False))
        out.append((pre[keep], post[keep]))
    return out


def logged_neurons(spec, selection) -> list:
    """Per layer, the sorted neurons that the selected synapses join."""
    per_layer = [[] for _ in spec.layers]
    for edge, (pre, post) in zip(spec.edges, selection):
        per_layer[edge.pre].append(pre)
        per_layer[edge.post].append(post)
    return [np.unique(np.concatenate(p)) if p else np.zeros(0, dtype=int) for p in per_layer]


def _sample_signs(spec) -> np.ndarray:
    """σ at each step of a training sample."""
    from ..schedule import SAMPLE_TRAIN, phase_signals

    return phase_signals(spec, np.array([SAMPLE_TRAIN]))["learn_sign"][:-1]


def trace_reads(spec, raster: np.ndarray) -> np.ndarray:
    """The trace value a synapse reads at each step: (n, S, m) bool spikes → (n, S, m).

    Per step: restore (symmetric nudging), x ← x (1 − 1/τ), read, x += 1/τ on a spike;
    x = 0 at the start of every sample; the free state is saved at the start of step T1.
    """
    tau = spec.spiking.tau_trace
    decay, t1, t2 = 1.0 - 1.0 / tau, spec.phases.free_steps, spec.phases.nudge_steps
    rewind = spec.nudged_phases == 2
    n, steps, m = raster.shape
    x = np.zeros((n, m))
    saved = x
    out = np.empty((n, steps, m))
    for k in range(steps):
        if rewind and k == t1:
            saved = x.copy()
        if rewind and k == t1 + t2:
            x = saved.copy()
        x = x * decay
        out[:, k] = x
        x = x + raster[:, k] / tau
    return out


def trace_changes(spec, reads: np.ndarray) -> np.ndarray:
    """What the ``continual`` rule reads: each step's change of the read trace,
    dv(t) = x(t) − x(t − 1) (n, S, m), from 0 at a sample's first step; under symmetric
    nudging the +β phase's first step is measured from the free state's last step, the
    value the rewind restores."""
    prev = np.zeros_like(reads)
    prev[:, 1:] = reads[:, :-1]
    if spec.nudged_phases == 2:
        t1, t2 = spec.phases.free_steps, spec.phases.nudge_steps
        prev[:, t1 + t2] = reads[:, t1 - 1]
    return reads - prev


def _neighbours(raster: np.ndarray):
    """Per step, the last spike strictly before it and the first at or after it (steps;
    −NO_SPIKE / NO_SPIKE for none)."""
    n, steps, m = raster.shape
    last = np.empty((n, steps, m), dtype=np.int32)
    nxt = np.empty((n, steps, m), dtype=np.int32)
    running = np.full((n, m), -NO_SPIKE, dtype=np.int32)
    for k in range(steps):
        last[:, k] = running
        running = np.where(raster[:, k], k, running)
    running = np.full((n, m), NO_SPIKE, dtype=np.int32)
    for k in range(steps - 1, -1, -1):
        running = np.where(raster[:, k], k, running)
        nxt[:, k] = running
    return last, nxt


def _expand(cols_of_spikes, synapse_cols):
    """For spikes of neurons (columns) ``cols_of_spikes``, every (spike, synapse) pair whose
    synapse has that column: returns (spike index, synapse index) arrays."""
    order = np.argsort(synapse_cols, kind="stable")
    counts = np.bincount(synapse_cols, minlength=int(cols_of_spikes.max(initial=0)) + 1)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    per_spike = counts[cols_of_spikes]
    total = int(per_spike.sum())
    spike = np.repeat(np.arange(len(cols_of_spikes)), per_spike)
    offset = np.arange(total) - np.repeat(np.cumsum(per_spike) - per_spike, per_spike)
    return spike, order[starts[cols_of_spikes][spike] + offset]


def _raster(spec, spikes, neurons, n_samples):
    """(n, S, m) bool raster of logged spikes (neuron ids, chunk steps) → columns of ``neurons``."""
    steps = spec.steps_per_sample
    ids, t = spikes
    inside = t < n_samples * steps
    col = np.searchsorted(neurons, ids[inside])
    raster = np.zeros((n_samples, steps, len(neurons)), dtype=bool)
    raster[t[inside] // steps, t[inside] % steps, col] = True
    return raster


@dataclass
class LayerSpikes:
    """One layer's logged spikes in a chunk, with what every change needs from them, flat
    over (sample, step, logged neuron): the trace a synapse reads, and the neighbouring
    spikes. Built once per layer and chunk (:func:`layer_spikes`), shared by every edge a
    layer belongs to."""

    neurons: np.ndarray       # the logged neurons (sorted ids)
    raster: np.ndarray        # (n, S, m) bool
    trace: np.ndarray         # (n·S·m,) trace_reads
    change: np.ndarray        # (n·S·m,) trace_changes
    last: np.ndarray          # (n·S·m,) last spike strictly before, −NO_SPIKE: none
    next: np.ndarray          # (n·S·m,) first spike at or after, NO_SPIKE: none


def _branch_neighbours(spec, raster: np.ndarray):
    """:func:`_neighbours` along the timeline each step belongs to. With symmetric nudging a
    sample has two: the free phase then the −β phase, and the free phase then the +β phase
    (which starts again from the free state), so a +β step's neighbours are sought among
    the free and +β spikes, in that timeline's time; a −β step's among the free and −β
    ones. The values are steps such that subtracting the trigger's step gives Δt."""
    if spec.nudged_phases != 2:
        return _neighbours(raster)
    t1, t2 = spec.phases.free_steps, spec.phases.nudge_steps
    last, nxt = _neighbours(raster[:, :t1 + t2])                      # free, then −β
    plus = np.concatenate([raster[:, :t1], raster[:, t1 + t2:]], axis=1)
    last_p, next_p = _neighbours(plus)                                # free, then +β
    shift = lambda a, none: np.where(np.abs(a) == NO_SPIKE, none, a + t2)  # noqa: E731
    return (np.concatenate([last, shift(last_p[:, t1:], -NO_SPIKE)], axis=1),
            np.concatenate([nxt, shift(next_p[:, t1:], NO_SPIKE)], axis=1))


def layer_spikes(spec, spikes, neurons, n_samples: int) -> LayerSpikes:
    """:class:`LayerSpikes` of (neuron ids, steps from the chunk's start) ``spikes``."""
    raster = _raster(spec, spikes, neurons, n_samples)
    last, nxt = _branch_neighbours(spec, raster)
    reads = trace_reads(spec, raster)
    return LayerSpikes(neurons, raster, reads.ravel(), trace_changes(spec, reads).ravel(),
                       last.ravel(), nxt.ravel())


def reconstruct_changes(spec, pre: LayerSpikes, post: LayerSpikes, synapses,
                        lr_w: float) -> dict:
    """Every non-zero change of the ``synapses`` = (pre, post) of one edge in a chunk.

    Returns the columns of :data:`EVENT_DTYPE` as arrays (``sample`` counted in the chunk),
    presynaptic triggers first; :func:`as_events` makes a table of some of them.
    """
    signs = _sample_signs(spec)
    learning = signs != 0
    steps = spec.steps_per_sample
    layers = (pre, post)
    continual = rule_for(spec).telescoping    # reads the other's change, not its trace
    cols = (np.searchsorted(pre.neurons, synapses[0]), np.searchsorted(post.neurons, synapses[1]))
    parts = []
    for trigger in (0, 1):                 # 0: presynaptic spike, 1: postsynaptic spike
        own, other = layers[trigger], layers[1 - trigger]
        own_cols, other_cols = cols[trigger], cols[1 - trigger]
        smp, k, col = np.nonzero(own.raster & learning[None, :, None])
        spike, syn = _expand(col, own_cols)
        at = (smp * steps + k)[spike]                       # sample-step of each change
        where = at * len(other.neurons) + other_cols[syn]   # the other neuron, then
        value = signs[at % steps] * (other.change if continual else other.trace)[where]
        keep = np.flatnonzero(value)
        at, syn, where, value = at[keep], syn[keep], where[keep], value[keep]
        k = at % steps
        last = other.last[where] - k
        nxt = other.next[where] - k
        direction = 1 if trigger == 0 else -1               # Δt = t_post − t_pre
        d_last = np.where(last < -steps, NO_SPIKE, direction * last)
        d_next = np.where(nxt > steps, NO_SPIKE, direction * nxt)
        parts.append({"sample": at // steps, "step": k, "synapse": syn,
                      "trigger": np.full(len(at), trigger, dtype=np.int8),
                      "sign": signs[k].astype(np.int8), "dw": lr_w * value,
                      "dt_nearest": np.where(nxt < -last, d_next, d_last), "dt_last": d_last})
    return {name: np.concatenate([p[name] for p in parts]) for name in EVENT_DTYPE.names}


def as_events(columns: dict, index=None) -> np.ndarray:
    """An :data:`EVENT_DTYPE` table of the changes ``index`` (default: all) of ``columns``."""
    n = len(columns["dw"]) if index is None else len(index)
    events = np.empty(n, dtype=EVENT_DTYPE)
    for name in EVENT_DTYPE.names:
        events[name] = columns[name] if index is None else columns[name][index]
    return events


class STDPLogger:
    """Collects the weight changes of the selected synapses, chunk by chunk, in bounded memory.

    Use :meth:`start_epoch`, then :meth:`add_chunk` for every training chunk, then
    :meth:`epoch_groups` for what the run file stores (see :mod:`eqspike.runfile`).
    """

    def __init__(self, spec, selection, max_events: int = 100_000, dt_range: int = 50,
                 seed: int = 0, background: bool = False):
        check_loggable(spec)
        self.spec = spec
        self.selection = [(np.asarray(p, dtype=np.int64), np.asarray(q, dtype=np.int64))
                          for p, q in selection]
        self.neurons = logged_neurons(spec, self.selection)
        self.max_events = int(max_events)
        self.dt_range = int(dt_range)
        self.rng = np.random.default_rng([seed, 5])
        self._worker = None
        if background:
            from concurrent.futures import ThreadPoolExecutor

            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stdp-log")
        self._pending = []
        self.start_epoch(None, 0)

    @property
    def n_bins(self) -> int:
        """Δt bins: −dt_range..dt_range, then one for ``|Δt| > dt_range`` or no spike."""
        return 2 * self.dt_range + 2

    def flush(self) -> None:
        """Wait until every chunk handed to :meth:`add_chunk` is processed (re-raising an
        error of the background worker)."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def start_epoch(self, weights, samples_seen: int) -> None:
        self.flush()
        pairs = len(self.selection)
        self.window = np.zeros((pairs, 2, 2, self.n_bins, 3))
        self.kept = [np.zeros(0, dtype=EVENT_DTYPE) for _ in range(pairs)]
        self.keys = [np.zeros(0) for _ in range(pairs)]
        self.n_events = np.zeros(pairs, dtype=np.int64)
        self.max_mismatch = np.zeros(pairs)
        self.trajectory = [[] for _ in range(pairs)]
        self.samples = []
        if weights is not None:
            self._record_weights(weights, samples_seen)

    def _record_weights(self, weights, samples_seen):
        for k, (pre, post) in enumerate(self.selection):
            self.trajectory[k].append(np.asarray(weights[k])[pre, post].copy())
        self.samples.append(int(samples_seen))

    def _bin(self, dt):
        inside = np.abs(dt) <= self.dt_range
        return np.where(inside, dt + self.dt_range, self.n_bins - 1)

    def add_chunk(self, logged_spikes, lr_w, weights, first_sample: int, n_samples: int,
                  samples_seen: int) -> None:
        """Add one chunk: ``logged_spikes`` from :class:`~eqspike.engine.ChunkResult`,
        ``lr_w`` per edge, the weights after the chunk (not modified afterwards), the
        epoch index of its first sample, its number of samples, and the run's samples seen
        after it.

        With ``background=True`` the chunk is processed by a worker thread, in order, while
        the caller runs the next chunk (the simulation runs in a subprocess, so the two
        share no interpreter time); :meth:`flush` waits for it.
        """
        args = (logged_spikes, list(lr_w), weights, first_sample, n_samples, samples_seen)
        if self._worker is None:
            self._add_chunk(*args)
        else:
            while self._pending and (self._pending[0].done() or len(self._pending) > 1):
                self._pending.pop(0).result()       # re-raise; at most 2 chunks in flight
            self._pending.append(self._worker.submit(self._add_chunk, *args))

    def _add_chunk(self, logged_spikes, lr_w, weights, first_sample, n_samples, samples_seen):
        before = [t[-1] for t in self.trajectory] if self.samples else None
        layers = [layer_spikes(self.spec, spikes, neurons, n_samples)
                  for spikes, neurons in zip(logged_spikes, self.neurons)]
        for k, (edge, (pre, post)) in enumerate(zip(self.spec.edges, self.selection)):
            changes = reconstruct_changes(self.spec, layers[edge.pre], layers[edge.post],
                                          (pre, post), lr_w[k])
            dw, n = changes["dw"], len(changes["dw"])
            self.n_events[k] += n
            size = 2 * 2 * self.n_bins
            flat = self.window[k].reshape(size, 3)
            sign = (changes["sign"] > 0).astype(np.int64)
            for which, field in enumerate(("dt_nearest", "dt_last")):
                index = (which * 2 + sign) * self.n_bins + self._bin(changes[field])
                flat[:, 0] += np.bincount(index, minlength=size)
                flat[:, 1] += np.bincount(index, weights=dw, minlength=size)
                flat[:, 2] += np.bincount(index, weights=dw * dw, minlength=size)
            # reservoir: keep the max_events changes with the smallest random keys
            keys = self.rng.random(n)
            candidates = np.arange(n)
            if n > self.max_events:
                candidates = np.argpartition(keys, self.max_events)[:self.max_events]
            new = as_events(changes, candidates)
            new["sample"] += first_sample
            keys = np.r_[self.keys[k], keys[candidates]]
            kept = np.concatenate([self.kept[k], new])
            if len(kept) > self.max_events:
                keep = np.argpartition(keys, self.max_events)[:self.max_events]
                keep = keep[np.argsort(kept["sample"][keep], kind="stable")]
                keys, kept = keys[keep], kept[keep]
            self.keys[k], self.kept[k] = keys, kept
            if before is not None:
                total = np.bincount(changes["synapse"], weights=dw, minlength=len(pre))
                change = np.asarray(weights[k])[pre, post] - before[k]
                self.max_mismatch[k] = max(self.max_mismatch[k],
                                           float(np.max(np.abs(change - total), initial=0.0)))
        self._record_weights(weights, samples_seen)

    def selection_groups(self, lr_w) -> dict:
        """What :func:`eqspike.runfile.create_run` stores: the selection and settings."""
        content = {"attrs": {"dt_range": self.dt_range, "max_events": self.max_events,
                             "lr_w_initial": np.asarray(lr_w, dtype=float)}}
        for k, (pre, post) in enumerate(self.selection):
            content[f"pre_{k}"], content[f"post_{k}"] = pre, post
        return {"plasticity": content}

    def epoch_groups(self, epoch: int) -> dict:
        """What :func:`eqspike.runfile.finish_epoch` stores for the epoch (1-based)."""
        self.flush()
        content = {"attrs": {"max_mismatch": self.max_mismatch}}
        for k in range(len(self.selection)):
            content[f"events_{k}"] = self.kept[k]
            content[f"n_events_{k}"] = self.n_events[k]
            content[f"window_{k}"] = self.window[k]
            content[f"trajectory_{k}"] = np.array(self.trajectory[k])
            content[f"samples_{k}"] = np.array(self.samples, dtype=np.int64)
        return {f"plasticity/epoch_{epoch:04d}": content}
