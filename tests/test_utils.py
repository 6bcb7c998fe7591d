"""minicnn.utils.assert_close: the comparison every parity test relies on."""
import re

import numpy as np
import pytest

from minicnn.utils import assert_close

NAN, INF = np.nan, np.inf


@pytest.mark.parametrize("actual, expected", [
    ([1.0, NAN], [1.0, NAN]),
    ([INF, -INF, 2.0], [INF, -INF, 2.0]),
    ([1.0 + 1e-12], [1.0]),
    (np.zeros((0, 3)), np.zeros((0, 3))),
])
def test_equal_values_pass(actual, expected):
    assert_close(np.array(actual), np.array(expected), name="x")


@pytest.mark.parametrize("actual, expected, count, where", [
    ([NAN, 1.0], [1.0, NAN], 2, "(0,)"),            # as many NaNs, in other places
    ([1.0, NAN], [1.0, 2.0], 1, "(1,)"),
    ([1.0, 2.0], [1.0, NAN], 1, "(1,)"),
    ([INF, 0.0], [-INF, 0.0], 1, "(0,)"),
    ([INF, 0.0], [1e300, 0.0], 1, "(0,)"),
    ([0.0, 1.0 + 1e-6], [0.0, 1.0], 1, "(1,)"),
])
def test_differences_fail_and_name_the_worst_element(actual, expected, count, where):
    message = f"x: {count} of 2 elements differ.*worst at {re.escape(where)}"
    with pytest.raises(AssertionError, match=message):
        assert_close(np.array(actual), np.array(expected), name="x")


def test_shape_mismatch_fails():
    with pytest.raises(AssertionError, match=r"shape \(2,\) != expected \(3,\)"):
        assert_close(np.zeros(2), np.zeros(3))
