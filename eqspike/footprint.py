"""What a run will need before it starts: memory for the build, disk for the run file.

A network file can ask for more than a machine has (``layers = [784, 3e5, 10]`` is 235
million synapses); eqspike refuses it in one line, with the figures, before it creates
anything (:func:`check_footprint`), instead of writing a gigabyte run file and then
running out of memory while it builds.

The estimates, per engine:

* spiking (Brian2): the process itself, and :data:`BYTES_PER_SYNAPSE` per synapse of each
  Synapses object (a dense edge n_pre n_post, a conv edge its taps; a feedback copy
  doubles an edge), plus the neurons and the chunk's signals; measured on this project's
  runs (see :data:`BYTES_PER_SYNAPSE`);
* rate reference: the parameters, their gradients and the optimiser's state, and a batch
  of states over the free phase;
* the run file: every parameter in its dtype, once per checkpoint (the initial one, one
  per epoch, the sidecar's).

They are upper estimates of the order of magnitude, meant to stop a request that cannot
fit, not to plan one that almost does.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from .errors import EqspikeError
from .parameters import edge_weight_shape
from .spec import NetworkSpec

__all__ = ["FootprintError", "BYTES_PER_SYNAPSE", "PROCESS_BYTES", "synapses", "build_bytes", "run_file_bytes",
           "available_memory", "check_footprint"]

#: Memory of one synapse of a compiled build, all its arrays (indices, weight, rule state,
#: the spike queues of its pathways) and the Python side's arrays while it is built, and
#: of the process before it builds (Python, NumPy, Brian2, the datasets' bytes): upper
#: figures from the resident memory of runs measured here (mnist-conv, 1.2 million
#: synapses with its feedback taps: 390 MB; mnist-conv-wide, 4.5 million: 870 MB, the
#: Python process and the compiled one together).
BYTES_PER_SYNAPSE = 200
PROCESS_BYTES = 300_000_000


class FootprintError(EqspikeError, MemoryError):
    """A run would need more memory or disk than the machine has."""


def _axis_taps(size: int, out: int, pool: int, kernel: int, stride: int, padding: int) -> int:
    """Along one axis: the (output, pool offset, kernel offset) triples inside the input."""
    pos = (stride * (pool * np.arange(out)[:, None, None] + np.arange(pool)[None, :, None])
           + np.arange(kernel)[None, None, :] - padding)
    return int(np.count_nonzero((pos >= 0) & (pos < size)))


def synapses(spec: NetworkSpec) -> list:
    """Per edge of the graph, the synapses it is made of: n_pre n_post (dense), or its taps
    (conv: C_out C_in times the in-bounds (output, pool offset, kernel offset) triples of
    each axis; :func:`eqspike.conv.conv_taps` counts the same without building them)."""
    out = []
    for e in spec.edges:
        if e.kind != "conv":
            out.append(spec.layers[e.pre] * spec.layers[e.post])
            continue
        (c_in, h, w), (c_out, oh, ow) = spec.shapes[e.pre], spec.shapes[e.post]
        out.append(c_in * c_out * _axis_taps(h, oh, e.pool, e.kernel, e.stride, e.padding)
                   * _axis_taps(w, ow, e.pool, e.kernel, e.stride, e.padding))
    return out


def build_bytes(spec: NetworkSpec, chunk_samples: int | None = None) -> int:
    """The memory a run of ``spec`` needs on its engine (see the module docstring)."""
    chunk = chunk_samples or spec.training.chunk_samples
    neurons = sum(spec.layers)
    if spec.network.path == "rate":
        params = sum(int(np.prod(edge_weight_shape(spec, e))) for e in spec.edges) + neurons
        batch = spec.reference.batch_size
        states = batch * neurons * (spec.phases.free_steps + 4)
        return PROCESS_BYTES + 8 * (4 * params + states)
    copies = 0
    for e, n in zip(spec.edges, synapses(spec)):
        copies += n * (2 if spec.spiking.feedback == "copy" and e.pre > 0 else 1)
    signals = chunk * (spec.layers[0] + spec.layers[-1] + 12 * spec.steps_per_sample)
    return PROCESS_BYTES + BYTES_PER_SYNAPSE * copies + 8 * (64 * neurons + signals)


def run_file_bytes(spec: NetworkSpec) -> int:
    """The run file and its sidecar: every parameter once per checkpoint (the initial one,
    one per epoch, the sidecar's), in float64."""
    params = sum(int(np.prod(edge_weight_shape(spec, e))) for e in spec.edges)
    params += sum(spec.layers[1:])
    return 8 * params * (spec.training.epochs + 2)


def available_memory() -> int | None:
    """Bytes this machine can give a new process: MemAvailable of /proc/meminfo (Linux),
    else the physical memory; None where neither is known."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _gb(n: float) -> str:
    return f"{n / 1e9:.3g} GB"


def check_footprint(spec: NetworkSpec, run_path=None, chunk_samples: int | None = None) -> None:
    """:class:`FootprintError` in one line, with the figures, when the build would need
    more memory than is available, or the run file (beside ``run_path``) more disk than
    its folder has free."""
    need, have = build_bytes(spec, chunk_samples), available_memory()
    if have is not None and need > have:
        size = f"{sum(synapses(spec)):,} synapses" if spec.network.path == "spiking" \
            else f"{sum(spec.layers):,} neurons"
        raise FootprintError(f"{spec.name}: a run needs about {_gb(need)} of memory ({size}) "
                             f"but this machine has {_gb(have)} available; make the network "
                             "smaller")
    if run_path is not None:
        folder = Path(os.path.abspath(run_path)).parent
        while not folder.exists():
            folder = folder.parent
        disk, free = run_file_bytes(spec), shutil.disk_usage(folder).free
        if disk > free:
            raise FootprintError(f"{spec.name}: its run file would take about {_gb(disk)} "
                                 f"({spec.training.epochs} epochs of checkpoints) but {folder} "
                                 f"has {_gb(free)} free")
