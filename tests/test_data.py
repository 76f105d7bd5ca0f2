"""Datasets: checksums, IDX parsing, and clear errors for missing or corrupt files."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest

from eqspike.data import DATASETS, DataError, load_dataset, rates_from_images, resolve_data_dir


def test_real_mnist_loads_with_checksums(data_dir):
    test = load_dataset("mnist", "test", data_dir, download=False)
    assert test.images.shape == (10000, 784) and test.images.dtype == np.uint8
    assert test.labels.shape == (10000,) and set(np.unique(test.labels)) == set(range(10))
    rates = rates_from_images(test.images[:5])
    assert rates.min() >= 0 and rates.max() == pytest.approx(1.0)


def test_real_fashion_mnist_loads(data_dir):
    train = load_dataset("fashion-mnist", "train", data_dir, download=False)
    assert train.images.shape == (60000, 784)


def test_missing_file_names_it_and_says_what_to_do(tmp_path):
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz is missing.*--data-dir"):
        load_dataset("mnist", "test", tmp_path, download=False)


def test_download_failure_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(DATASETS["mnist"], "mirrors", ["http://127.0.0.1:9/"])
    with pytest.raises(DataError, match="could not be downloaded"):
        load_dataset("mnist", "test", tmp_path, download=True)


def _copy_mnist(src_root, dst_root):
    dst = dst_root / "mnist"
    dst.mkdir()
    for name in DATASETS["mnist"]["files"]:
        shutil.copy(src_root / "mnist" / name, dst / name)
    return dst


def test_truncated_file_fails_checksum(data_dir, tmp_path):
    dst = _copy_mnist(data_dir, tmp_path)
    target = dst / "t10k-labels-idx1-ubyte.gz"
    target.write_bytes(target.read_bytes()[:1000])
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz is corrupt or truncated"):
        load_dataset("mnist", "test", tmp_path, download=False)


def test_flipped_byte_fails_checksum(data_dir, tmp_path):
    dst = _copy_mnist(data_dir, tmp_path)
    target = dst / "t10k-images-idx3-ubyte.gz"
    raw = bytearray(target.read_bytes())
    raw[5000] ^= 0xFF
    target.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="MD5"):
        load_dataset("mnist", "test", tmp_path, download=False)


def test_idx_parser_rejects_wrong_kind_of_file(tmp_path):
    from eqspike.data import _read_idx

    bad = tmp_path / "x.gz"
    with gzip.open(bad, "wb") as handle:
        handle.write(b"not an idx file at all")
    with pytest.raises(DataError, match="not an IDX file"):
        _read_idx(bad, 3)
    plain = tmp_path / "y.gz"
    plain.write_bytes(b"plain text, not gzip")
    with pytest.raises(DataError, match="not a readable gzip"):
        _read_idx(plain, 1)
    short = tmp_path / "z.gz"
    with gzip.open(short, "wb") as handle:
        handle.write(bytes([0, 0, 8, 1]) + (100).to_bytes(4, "big") + bytes(10))
    with pytest.raises(DataError, match="expected shape"):
        _read_idx(short, 1)


def test_unknown_dataset_lists_choices():
    with pytest.raises(DataError, match="valid: fashion-mnist, mnist"):
        load_dataset("cifar", "train")


def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("EQSPIKE_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("EQSPIKE_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert resolve_data_dir() == tmp_path / "cache" / "eqspike" / "data"


def test_download_fetches_and_verifies_official_files(data_dir, tmp_path, monkeypatch):
    """A local HTTP server stands in for the official mirror."""
    import functools
    import http.server
    import threading

    root = tmp_path / "served"
    root.mkdir()
    served = _copy_mnist(data_dir, root)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        mirror = f"http://127.0.0.1:{server.server_address[1]}/"
        monkeypatch.setitem(DATASETS["mnist"], "mirrors", ["http://127.0.0.1:9/", mirror])
        cache = tmp_path / "cache"
        test = load_dataset("mnist", "test", cache, download=True)
        assert len(test) == 10000
        assert (cache / "mnist" / "t10k-images-idx3-ubyte.gz").is_file()
    finally:
        server.shutdown()


def test_a_shifted_image_is_the_image_translated_with_zero_fill():
    """out[c, y + dy, x + dx] = in[c, y, x] wherever both lie in the image, 0 elsewhere,
    for every shift in [−2, 2]² (written pixel by pixel here), two channels."""
    from eqspike.data import shift_images

    rng = np.random.default_rng(0)
    shape = (2, 5, 6)
    shifts = np.array([(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)])
    x = rng.uniform(0.1, 1.0, (len(shifts), int(np.prod(shape))))
    got = shift_images(x, shape, shifts).reshape(len(x), *shape)
    for n, (dy, dx) in enumerate(shifts):
        want = np.zeros(shape)
        image = x[n].reshape(shape)
        for c in range(2):
            for y in range(5):
                for col in range(6):
                    if 0 <= y + dy < 5 and 0 <= col + dx < 6:
                        want[c, y + dy, col + dx] = image[c, y, col]
        np.testing.assert_array_equal(got[n], want)


def test_random_shifts_come_from_the_seed_and_the_epoch_alone():
    """The same (seed, epoch) gives the same shifts (whatever the chunking: they are drawn
    per image index), another epoch or seed others; every shift in [−k, k]² occurs, none
    outside; without [training] shift the images are the network's rates unchanged."""
    from eqspike.data import epoch_shifts, random_shifts, training_inputs
    from eqspike.spec import spec_from_toml

    a = random_shifts(5, 2, 4000, 2)
    np.testing.assert_array_equal(a, random_shifts(5, 2, 4000, 2))
    assert not np.array_equal(a, random_shifts(5, 3, 4000, 2))
    assert not np.array_equal(a, random_shifts(6, 2, 4000, 2))
    assert {tuple(s) for s in a} == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}
    spec = spec_from_toml("[network]\nlayers = [784, 10]\n[learning]\nrates = [0.1]\n"
                          "bias_rates = [0.1]\n", name="flat")
    assert epoch_shifts(spec, 1, 0, 10) is None
    rates = np.random.default_rng(1).uniform(size=(10, 784))
    idx = np.array([3, 1, 7])
    np.testing.assert_array_equal(training_inputs(spec, rates, idx, None), rates[idx])
    shifted = spec.replace(training={"shift": 1})
    shifts = epoch_shifts(shifted, 1, 0, 10)
    np.testing.assert_array_equal(shifts, random_shifts(1, 0, 10, 1))
    moved = training_inputs(shifted, rates, idx, shifts).reshape(3, 28, 28)
    for row, k in zip(moved, idx):
        dy, dx = shifts[k]
        image = rates[k].reshape(28, 28)
        np.testing.assert_array_equal(row[1:27, 1:27], image[1 - dy:27 - dy, 1 - dx:27 - dx])
