"""Winograd F(2x2, 3x3), conv2d's second algorithm: when conv2d takes it, float32 on a large
mean, the Numba transforms equal to their NumPy references, and the weight transform equal to
its definition G w G^T.  Its parity with PyTorch's convolution (forward and every gradient,
random upstream gradient: odd sizes, uneven padding, a 1x1 input, N=0) and its finite
differences are the rows of ``conv2d_winograd`` in tests/op_table.py."""
import numpy as np
import pytest
import torch.nn.functional as TF

import minicnn as mc
import minicnn.functional as F
from minicnn import geometry
from minicnn.cpu import winograd as fast
from minicnn.functional import conv_algorithm, winograd
from minicnn.utils import assert_close


@pytest.fixture
def use_winograd(monkeypatch):
    monkeypatch.setattr(conv_algorithm, "CONV_ALGORITHM", "winograd")


def test_conv2d_takes_winograd_only_where_asked_and_allowed(use_winograd, monkeypatch):
    def choose(weight, stride=(1, 1), dilation=(1, 1), groups=1, dtype=np.float32, input_hw=(5, 5)):
        return conv_algorithm.choose((1, weight[1] * groups) + input_hw, weight, stride, (1, 1),
                                          dilation, groups, dtype)
    assert choose((8, 4, 3, 3)) == "winograd"
    for weight, stride, dilation, groups, dtype in [((8, 4, 5, 5), (1, 1), (1, 1), 1, np.float32),
                                                     ((8, 4, 3, 3), (2, 2), (1, 1), 1, np.float32),
                                                     ((8, 4, 3, 3), (1, 1), (2, 2), 1, np.float32),
                                                     ((8, 2, 3, 3), (1, 1), (1, 1), 2, np.float32),
                                                     ((8, 4, 3, 3), (1, 1), (1, 1), 1, np.int64)]:
        assert choose(weight, stride, dilation, groups, dtype) == "im2col"
    x = mc.tensor(np.ones((1, 4, 5, 5)), requires_grad=True)
    assert type(F.conv2d(x, mc.tensor(np.ones((2, 4, 3, 3))), padding=1).grad_fn).__name__ == "WinogradConv2d"
    monkeypatch.setattr(conv_algorithm, "CONV_ALGORITHM", "im2col")
    assert type(F.conv2d(x, mc.tensor(np.ones((2, 4, 3, 3))), padding=1).grad_fn).__name__ == "Conv2d"
    assert choose((512, 512, 3, 3), input_hw=(28, 28)) == "im2col"
    monkeypatch.setattr(conv_algorithm, "CONV_ALGORITHM", "fft")
    with pytest.raises(ValueError, match="CONV_ALGORITHM must be 'auto', 'im2col', 'winograd' or 'depthwise', got 'fft'"):
        F.conv2d(x, mc.tensor(np.ones((2, 4, 3, 3))))


def test_auto_takes_winograd_on_many_channels_and_large_maps_on_the_cpu(monkeypatch):
    """The default, "auto": Winograd where it measured faster (VGG's 256-512 channel layers),
    im2col elsewhere; only on the CPU, where it was measured."""
    assert conv_algorithm.CONV_ALGORITHM == "auto"
    monkeypatch.setattr(conv_algorithm, "WINOGRAD_MIN_CHANNELS", 8)     # small arrays, same rule
    monkeypatch.setattr(conv_algorithm, "WINOGRAD_MIN_OUTPUT", 6)
    monkeypatch.setattr(conv_algorithm, "WINOGRAD_MIN_WORK", 8 * 6)

    def choose(c_in, c_out, hw, on_cpu=True, stride=(1, 1)):
        return conv_algorithm.choose((2, c_in, hw, hw), (c_out, c_in, 3, 3), stride, (1, 1),
                                          (1, 1), 1, np.float32, on_cpu)
    assert choose(8, 8, 6) == "winograd"
    monkeypatch.setattr(conv_algorithm, "WINOGRAD_MIN_WORK", 8 * 9)
    assert choose(8, 8, 6) == "im2col" and choose(8, 16, 9) == choose(12, 8, 6) == "winograd"
    monkeypatch.setattr(conv_algorithm, "WINOGRAD_MIN_WORK", 8 * 6)
    assert choose(16, 8, 9) == "winograd"
    assert choose(7, 8, 6) == choose(8, 7, 6) == "im2col"      # too few channels, in or out
    assert choose(8, 8, 5) == "im2col"                          # too small a map (5x5 out)
    assert choose(8, 8, 6, on_cpu=False) == "im2col"            # not measured on the GPU
    assert choose(8, 8, 12, stride=(2, 2)) == "im2col"          # Winograd cannot
    x = mc.tensor(np.random.default_rng(0).standard_normal((2, 8, 6, 6)), requires_grad=True)
    w = mc.tensor(np.random.default_rng(1).standard_normal((8, 8, 3, 3)), requires_grad=True)
    y = F.conv2d(x, w, padding=1)
    assert type(y.grad_fn).__name__ == "WinogradConv2d"
    monkeypatch.setattr(conv_algorithm, "CONV_ALGORITHM", "im2col")
    np.testing.assert_allclose(y.data, F.conv2d(x, w, padding=1).data, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("c_in, c_out, side, algorithm", [
    (256, 256, 56, "winograd"), (512, 512, 28, "winograd"),             # VGG's conv3_2, conv4_2
    (256, 512, 28, "im2col"), (512, 512, 14, "im2col"),                  # conv4_1, conv5_x
    (256, 256, 14, "im2col"), (1024, 1024, 14, "im2col"), (128, 128, 112, "im2col")])
def test_auto_picks_what_was_measured_faster_on_real_layer_shapes(c_in, c_out, side, algorithm):
    """The defaults' decisions on the layers of round 8's measurement (forward + backward,
    batch 4 and 16, docs/benchmarks-history.md): Winograd only where it won."""
    assert conv_algorithm.choose((4, c_in, side, side), (c_out, c_in, 3, 3), (1, 1), (1, 1),
                                 (1, 1), 1, np.float32) == algorithm


def test_winograd_equals_im2col_on_a_large_mean_in_float32(monkeypatch):
    """B^T's differences of neighbouring pixels cancel a large mean: float32 stays as close to
    the float64 result as im2col's (relative to the output's size)."""
    rng = np.random.default_rng(2)
    x = (1000 + rng.standard_normal((2, 8, 9, 9))).astype(np.float32)
    w = rng.standard_normal((4, 8, 3, 3)).astype(np.float32)
    exact = TF.conv2d(*(mc.utils.to_torch(a.astype(np.float64)) for a in (x, w)), padding=1).numpy()
    errors = {}
    for algorithm in ("im2col", "winograd"):
        monkeypatch.setattr(conv_algorithm, "CONV_ALGORITHM", algorithm)
        y = F.conv2d(mc.tensor(x), mc.tensor(w), padding=1).numpy()
        errors[algorithm] = np.abs(y - exact).max() / np.abs(exact).max()
    assert errors["winograd"] < 1e-6 and errors["im2col"] < 1e-6, errors


# ----- the pieces -------------------------------------------------------------------------------
def test_weight_transform_is_g_w_g_transposed_and_its_adjoint():
    rng = np.random.default_rng(3)
    w, dU = rng.standard_normal((5, 4, 3, 3)), rng.standard_normal((16, 5, 4))
    U = winograd.weight_transform(w)
    for o, c in [(0, 0), (4, 3), (2, 1)]:
        assert_close(U[:, o, c].reshape(4, 4), winograd.G @ w[o, c] @ winograd.G.T)
    assert np.isclose(np.vdot(U, dU), np.vdot(w, winograd.weight_transform_adjoint(dU)), rtol=1e-12)


def test_one_tile_by_the_definition():
    """y = A^T [(G w G^T) * (B^T d B)] A on a single 4x4 input is the 2x2 valid convolution."""
    rng = np.random.default_rng(4)
    d, w = rng.standard_normal((4, 4)), rng.standard_normal((3, 3))
    y = winograd.A_T @ ((winograd.G @ w @ winograd.G.T) * (winograd.B_T @ d @ winograd.B_T.T)) @ winograd.A_T.T
    direct = np.array([[np.sum(d[i:i + 3, j:j + 3] * w) for j in range(2)] for i in range(2)])
    assert_close(y, direct)
    V = winograd.winograd_input_numpy(d.reshape(1, 1, 4, 4), (0, 0))
    assert_close(V.reshape(4, 4), winograd.B_T @ d @ winograd.B_T.T)


def _transform_cases(rng, dtype, n, c, o, h, w, padding):
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    (oh, ow), (th, tw) = geometry.winograd_tiles((h, w), padding)
    return (x, rng.standard_normal((16, o, n * th * tw)).astype(dtype),
            rng.standard_normal((n, o, oh, ow)).astype(dtype),
            rng.standard_normal((16, c, n * th * tw)).astype(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n, c, o, h, w, padding", [(2, 3, 4, 7, 6, (1, 1)), (1, 2, 3, 5, 8, (0, 2)),
                                                    (3, 4, 5, 4, 3, (2, 0)), (2, 3, 2, 1, 1, (1, 1)),
                                                    (2, 5, 3, 12, 12, (1, 1))], ids=str)
def test_numba_transforms_equal_the_references(dtype, n, c, o, h, w, padding):
    x, M, g, dV = _transform_cases(np.random.default_rng(h * w), dtype, n, c, o, h, w, padding)
    pairs = [(fast.winograd_input(x, padding), winograd.winograd_input_numpy(x, padding)),
             (fast.winograd_output(M, g.shape), winograd.winograd_output_numpy(M, g.shape)),
             (fast.winograd_output_adjoint(g), winograd.winograd_output_adjoint_numpy(g)),
             (fast.winograd_input_adjoint(dV, x.shape, padding),
              winograd.winograd_input_adjoint_numpy(dV, x.shape, padding))]
    for got, expected in pairs:
        assert got.dtype == expected.dtype == dtype
        assert_close(got, expected)


@pytest.mark.parametrize("n, c, o, h, w, padding", [(2, 3, 4, 7, 6, (1, 1)), (1, 2, 3, 5, 8, (0, 2))])
def test_transforms_and_their_adjoints_are_transposes(n, c, o, h, w, padding):
    """<input(x), dV> = <x, input_adjoint(dV)> and <output(M), g> = <M, output_adjoint(g)>."""
    x, M, g, dV = _transform_cases(np.random.default_rng(5), np.float64, n, c, o, h, w, padding)
    for module in (winograd, fast):
        suffix = "_numpy" if module is winograd else ""
        run = {name: getattr(module, name + suffix) for name in
               ("winograd_input", "winograd_input_adjoint", "winograd_output", "winograd_output_adjoint")}
        assert np.isclose(np.vdot(run["winograd_input"](x, padding), dV),
                          np.vdot(x, run["winograd_input_adjoint"](dV, x.shape, padding)), rtol=1e-12)
        assert np.isclose(np.vdot(run["winograd_output"](M, g.shape), g),
                          np.vdot(M, run["winograd_output_adjoint"](g)), rtol=1e-12)


def test_conv_algorithm_use_sets_the_algorithm_for_a_block_and_puts_it_back():
    x = mc.tensor(np.ones((1, 2, 6, 6), np.float32))
    w = mc.tensor(np.ones((2, 2, 3, 3), np.float32), requires_grad=True)
    with conv_algorithm.use("winograd"):
        assert type(F.conv2d(x, w, padding=1).grad_fn).__name__ == "WinogradConv2d"
        with conv_algorithm.use("im2col"):
            assert type(F.conv2d(x, w, padding=1).grad_fn).__name__ == "Conv2d"
        assert conv_algorithm.CONV_ALGORITHM == "winograd"
    assert conv_algorithm.CONV_ALGORITHM == "auto"
    with pytest.raises(RuntimeError, match="inside"):
        with conv_algorithm.use("winograd"):
            raise RuntimeError("inside")
    assert conv_algorithm.CONV_ALGORITHM == "auto"                  # put back after an error too
    with pytest.raises(ValueError, match=r"conv_algorithm.use: expected one of .* got 'fft'"):
        with conv_algorithm.use("fft"):
            pass
