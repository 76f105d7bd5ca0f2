"""Datasets: official IDX files, MD5 verification, download, and rate coding.

The data directory holds one folder per dataset with the four official ``.gz`` files
(``DATA_DIR/mnist/train-images-idx3-ubyte.gz`` ...). It is chosen, in this order, by an
explicit ``data_dir`` argument (the CLI's ``--data-dir``), the ``EQSPIKE_DATA`` environment
variable, or a per-user cache directory (``$XDG_CACHE_HOME/eqspike/data``, else
``~/.cache/eqspike/data``). Every file is checked against the checksum published with the
dataset before it is parsed; a missing file is downloaded from the official mirrors into the
cache when a network is reachable.

Pixel intensities are coded as rates in [0, 1] (``image / 255``): the spiking input layer
turns them into spikes with the same code as every other neuron (see :mod:`eqspike.spiking`).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import EqspikeError

__all__ = [
    "DATASETS",
    "DataError",
    "Dataset",
    "default_data_dir",
    "resolve_data_dir",
    "load_dataset",
    "rates_from_images",
    "PixelRates",
    "network_inputs",
    "check_split_size",
    "random_shifts",
    "shift_images",
    "training_inputs",
    "epoch_shifts",
]

#: Per dataset: file name -> official MD5 (the checksums published with each dataset), the
#: images' shape (channels, height, width), the classes, the images per split, and where to
#: download the files.
DATASETS: dict[str, dict] = {
    "mnist": {
        "files": {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        "shape": (1, 28, 28), "classes": 10, "sizes": {"train": 60000, "test": 10000},
        "mirrors": [
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ],
    },
    "fashion-mnist": {
        "files": {
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        "shape": (1, 28, 28), "classes": 10, "sizes": {"train": 60000, "test": 10000},
        "mirrors": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
    },
}

_SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


class DataError(EqspikeError, RuntimeError):
    """A dataset file is missing, truncated, corrupt or of the wrong kind.

    The message names the file and says what to do; the CLI prints it as one line.
    """


@dataclass(frozen=True)
class Dataset:
    """One split of a dataset: ``images`` (N, H*W) uint8 and ``labels`` (N,) uint8."""

    name: str
    split: str
    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def default_data_dir() -> Path:
    """The per-user cache directory used when neither a flag nor ``EQSPIKE_DATA`` is set."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "eqspike" / "data"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory: ``data_dir``, else ``$EQSPIKE_DATA``, else :func:`default_data_dir`."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get("EQSPIKE_DATA")
    if env:
        return Path(env).expanduser()
    return default_data_dir()


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(name: str, filename: str, target: Path) -> None:
    """Fetch ``filename`` from the dataset's mirrors into ``target`` (atomically)."""
    errors = []
    target.parent.mkdir(parents=True, exist_ok=True)
    for mirror in DATASETS[name]["mirrors"]:
        url = mirror + filename
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
                    shutil.copyfileobj(response, tmp)
            os.replace(tmp.name, target)
            return
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            errors.append(f"{url}: {exc}")
    raise DataError(
        f"{target} is missing and could not be downloaded ({'; '.join(errors)}). "
        f"Put the official file there, or point --data-dir / EQSPIKE_DATA at a directory "
        f"holding {name}/{filename}."
    )


def _checked_file(root: Path, name: str, filename: str, download: bool) -> Path:
    path = root / name / filename
    expected = DATASETS[name]["files"][filename]
    if not path.is_file():
        if not download:
            raise DataError(
                f"{path} is missing. Point --data-dir or EQSPIKE_DATA at a directory "
                f"holding {name}/{filename}, or allow the download of the official files."
            )
        _download(name, filename, path)
    actual = _md5(path)
    if actual != expected:
        raise DataError(
            f"{path} is corrupt or truncated (MD5 {actual}, expected {expected}). "
            f"Delete it and fetch the official file again."
        )
    return path


def _read_idx(path: Path, expected_ndim: int) -> np.ndarray:
    """Parse an IDX file (LeCun's format): magic 0x0000 08 ndim, big-endian dims, uint8 data."""
    try:
        with gzip.open(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path} is not a readable gzip file ({exc}).") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] != expected_ndim:
        raise DataError(f"{path} is not an IDX file of {expected_ndim}-D unsigned bytes.")
    header = 4 + 4 * expected_ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(expected_ndim))
    if len(raw) != header + int(np.prod(dims)):
        raise DataError(f"{path} holds {len(raw) - header} bytes of data, expected shape {dims}.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def load_dataset(
    name: str,
    split: str,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
) -> Dataset:
    """Load ``split`` ('train' or 'test') of dataset ``name`` after verifying its checksums.

    Raises :class:`DataError` with a one-line explanation for anything wrong with the files.
    A split read once is kept for the process while its files stay as they were (their
    size and modification time), so that a command checks them once.
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid: {', '.join(sorted(DATASETS))}")
    if split not in _SPLIT_FILES:
        raise DataError(f"unknown split {split!r}; valid: train, test")
    root = resolve_data_dir(data_dir).resolve()
    stamps = []
    for filename in _SPLIT_FILES[split]:
        try:
            stat = (root / name / filename).stat()
            stamps.append((stat.st_size, stat.st_mtime_ns))
        except OSError:
            stamps.append(None)
    return _load(name, split, root, download, tuple(stamps))


@functools.lru_cache(maxsize=4)
def _load(name: str, split: str, root: Path, download: bool, stamps: tuple) -> Dataset:
    image_file, label_file = _SPLIT_FILES[split]
    images = _read_idx(_checked_file(root, name, image_file, download), 3)
    labels = _read_idx(_checked_file(root, name, label_file, download), 1)
    if len(images) != len(labels):
        raise DataError(f"{root / name}: {len(images)} images but {len(labels)} labels.")
    return Dataset(name, split, images.reshape(len(images), -1), labels)


def rates_from_images(images: np.ndarray) -> np.ndarray:
    """Rate code of pixel intensities: r = pixel / 255, in [0, 1] (float32)."""
    return np.asarray(images, dtype=np.float32) / np.float32(255.0)


class PixelRates:
    """The pixel rates of a set of images (:func:`rates_from_images`, in ``dtype``),
    converted when indexed: the images stay bytes, 47 MB for MNIST's 60,000 training
    images where their float32 rates take 188 MB. ``rates[idx]`` (an index array or a
    slice) gives the rates of those images, the same values as converting all at once."""

    def __init__(self, images: np.ndarray, dtype=np.float32):
        self.images = images
        self.dtype = np.dtype(dtype)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple:
        return self.images.shape

    def __getitem__(self, idx) -> np.ndarray:
        return rates_from_images(self.images[idx]).astype(self.dtype, copy=False)

    def __array__(self, dtype=None, copy=None):
        return self[:].astype(dtype or self.dtype, copy=False)


def check_split_size(spec, split: str, limit: int | None) -> None:
    """A request for the first ``limit`` images of a split (``--test-samples``): refused
    when the split has fewer (it would silently give fewer)."""
    from .errors import UsageError

    size = DATASETS[spec.network.dataset]["sizes"][split]
    if limit is not None and limit > size:
        raise UsageError(f"{limit} {split} images asked for; {spec.network.dataset}'s {split} "
                         f"set has {size}")


def network_inputs(spec, split: str, data_dir=None, download: bool = True, limit=None,
                   dtype=np.float32, lazy: bool = False):
    """The first ``limit`` images of ``spec``'s dataset split as pixel rates (in ``dtype``;
    with ``lazy``, a :class:`PixelRates` that converts the images it is asked for) and
    their labels; :class:`~eqspike.spec.SpecError` if the network does not fit the images
    (:meth:`~eqspike.spec.NetworkSpec.check_dataset`)."""
    spec.check_dataset()
    check_split_size(spec, split, limit)
    data = load_dataset(spec.network.dataset, split, data_dir, download)
    n = len(data) if limit is None else min(limit, len(data))
    rates = PixelRates(data.images[:n], dtype)
    return (rates if lazy else rates[:]), data.labels[:n].astype(int)


def random_shifts(seed: int, epoch: int, n: int, shift: int) -> np.ndarray:
    """(n, 2) translations (rows, columns), each uniform in [−shift, shift], of training
    images 0..n−1 in ``epoch`` (``[training] shift``), drawn from the run's seed and the
    epoch alone: the same whatever the chunking, and on resume."""
    return np.random.default_rng([seed, epoch, 3]).integers(-shift, shift + 1, size=(n, 2))


def shift_images(x: np.ndarray, image_shape: tuple, shifts: np.ndarray) -> np.ndarray:
    """Each row of ``x`` (n, C·H·W), an image of ``image_shape`` (C, H, W), translated by
    its (dy, dx) in ``shifts`` with zero fill: out[c, y + dy, x + dx] = in[c, y, x]."""
    c, h, w = image_shape
    images = np.asarray(x).reshape(len(x), c, h, w)
    out = np.zeros_like(images)
    for dy, dx in np.unique(shifts, axis=0):
        rows = np.flatnonzero((shifts[:, 0] == dy) & (shifts[:, 1] == dx))
        out[rows, :, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
            images[rows, :, max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out.reshape(len(x), -1)


def training_inputs(spec, rates, idx, shifts: np.ndarray | None) -> np.ndarray:
    """The rates of training images ``idx``, each translated by its row of ``shifts``
    (:func:`random_shifts` of the epoch; None: as they are)."""
    x = rates[idx]
    if shifts is None:
        return x
    return shift_images(x, DATASETS[spec.network.dataset]["shape"], shifts[idx])


def epoch_shifts(spec, seed: int, epoch: int, n: int) -> np.ndarray | None:
    """:func:`random_shifts` of an epoch of ``n`` training images, or None without
    ``[training] shift``."""
    shift = spec.training.shift
    return random_shifts(seed, epoch, n, shift) if shift else None
