"""Issue 15.7: ``data.split=official`` with ``data.arrays`` uses the partition file or says what is missing."""

from __future__ import annotations

import numpy as np
import pytest

from amber2.training.config import DataConfig
from amber2.training.data import DataError
from amber2.training.loading import load_training_data


def _arrays(tmp_path):
    rng = np.random.default_rng(0)
    ids = np.array(["a", "b", "c", "d", "e", "f"])
    path = tmp_path / "x.npz"
    np.savez(path, ids=ids, y=rng.dirichlet(np.ones(3), size=6), audio=rng.normal(size=(6, 4)),
             folds=np.arange(6) % 2)
    return path


def test_official_split_with_arrays_reads_the_partition(tmp_path):
    split = tmp_path / "split.csv"
    split.write_text("id,split\na,Train\nb,Train\nc,Development\nd,Test1\ne,Test2\nf,Test1\n")
    td = load_training_data(DataConfig(arrays=str(_arrays(tmp_path)), split="official", folds=str(split)))
    assert list(td.data.ids) == ["a", "b", "c", "d", "f"]  # e (Test2) left out, not cross-validated
    assert td.folds.tolist() == [-1, -1, -2, 0, 0]
    assert td.info["dropped"] == {"partition_Test2": 1}


def test_official_split_with_arrays_and_no_partition_file_is_an_error(tmp_path):
    with pytest.raises(DataError, match=r"data.split=official with data.arrays .* needs the partition file"):
        load_training_data(DataConfig(arrays=str(_arrays(tmp_path)), split="official"))


def test_numpy_ids_print_as_plain_strings():
    from amber2.training.data import LabeledSet

    y = np.array([[0.5, 0.5], [np.nan, 1.0]])
    with pytest.raises(DataError) as err:
        LabeledSet(np.array(["u004", "u005"]), {"audio": np.ones((2, 3))}, y, ["a", "b"])
    assert "'u005'" in str(err.value) and "np.str_" not in str(err.value)
