"""The trainer's in-graph loop holds each split once: its tensors are the split's own arrays (issue 20)."""

from __future__ import annotations

import numpy as np
import pytest

from search.data import load_data


class _Exported:
    """Lets NumPy read a TensorFlow tensor's buffer through DLPack (to see where its data lives)."""

    def __init__(self, tensor):
        self.tensor = tensor

    def __dlpack__(self, **_):
        import tensorflow as tf

        return tf.experimental.dlpack.to_dlpack(self.tensor)

    def __dlpack_device__(self):
        return (1, 0)  # kDLCPU


@pytest.fixture(scope="module")
def split():
    return load_data("digits").splits[0]


def test_split_tensors_share_the_split_arrays_memory(split):
    from search.training._loop import split_tensors

    arrays = (split.x_train, split.y_train, split.x_val, split.y_val)
    tensors = split_tensors(split)
    assert split_tensors(split) is tensors  # made once per split
    for array, tensor in zip(arrays, tensors, strict=True):
        seen = np.from_dlpack(_Exported(tensor))
        assert np.shares_memory(seen, array)  # one copy in memory, not two
        assert np.array_equal(seen, array) and seen.dtype == array.dtype
        assert not array.flags.writeable  # still read-only for everyone else
        with pytest.raises(ValueError):
            array[0] = array[0]


def test_an_unaligned_or_strided_array_is_copied_not_shared():
    from search.training._loop import ALIGN, shared_tensor

    buffer = np.arange(2 * ALIGN, dtype=np.uint8)
    k = (4 - buffer.ctypes.data) % ALIGN  # 4 bytes past a boundary: TensorFlow would abort on it in place
    unaligned = buffer[k:k + 32].view(np.float32)
    assert unaligned.ctypes.data % ALIGN
    strided = np.arange(20, dtype=np.float32)[::2]
    for array in (unaligned, strided, np.zeros((0, 3), np.float32)):
        tensor = shared_tensor(array)
        assert np.array_equal(tensor.numpy(), array)
        if array.size:
            assert not np.shares_memory(np.from_dlpack(_Exported(tensor)), array)
