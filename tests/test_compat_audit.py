"""Builtins checked against what VoxLogicA 1.3.3 computes, on small hand-made inputs.

Each expected value is worked out by hand from VoxLogicA 1's definition of
the builtin, not by running our implementation.
"""
import numpy as np

from _build import F32, boo, call, num


# -- percentiles -----------------------------------------------------------

def test_percentiles_keeps_distinct_values_apart_when_their_offset_rounds():
    """VoxLogicA 1 groups the masked voxels by their exact float32 value.

    262144.03125 (2^18 + 2^-5) is a float32 distinct from 262144; its offset
    from -524288 (786432.03125) is not a float32 and rounds to the integer
    786432. Three distinct values, correction 0: ranks 0/3, 1/3, 2/3.
    """
    values = [[-524288.0, 262144.0, 262144.03125]]
    assert len(set(np.asarray(values, F32).ravel().tolist())) == 3
    r = call("percentiles", num(values), boo([[1, 1, 1]]), 0.0).array
    expected = np.array([[0.0, 1.0, 2.0]], F32) / F32(3)
    assert r.dtype == F32
    assert np.array_equal(r, expected)


def test_percentiles_rounding_offset_with_correction():
    """Same values plus a repeated one; c = 0.5, every step in float32.

    Sorted groups: -524288 (1), 262144 (2), 262144.03125 (1); n = 4.
    Ranks: (0 + 0.5·1)/4, (1 + 0.5·2)/4, (3 + 0.5·1)/4; outside the mask -1.
    """
    values = [[-524288.0, 262144.0, 262144.03125], [262144.0, 7.0, 0.0]]
    mask = [[1, 1, 1], [1, 0, 0]]
    r = call("percentiles", num(values), boo(mask), 0.5).array
    q = F32(4)
    expected = np.array([[F32(0.5) / q, F32(2.0) / q, F32(3.5) / q],
                         [F32(2.0) / q, -1, -1]], F32)
    assert np.array_equal(r, expected)
