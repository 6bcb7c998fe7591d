"""minicnn.data.transforms: parity with torchvision where it is deterministic,
independent properties where it is random."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
import torchvision.transforms as tvt
import torchvision.transforms.functional as tvf
from hypothesis import given, settings, strategies as st

from minicnn.data import transforms as T


def image(h=13, w=17, c=3, seed=0, dtype=np.uint8):
    rng = np.random.default_rng(seed)
    if dtype == np.uint8:
        return rng.integers(0, 256, size=(h, w, c) if c else (h, w), dtype=np.uint8)
    return rng.random((h, w, c) if c else (h, w)).astype(dtype)


def chw(img):
    """Our HWC array as torchvision's CHW tensor."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


# ----- ToTensor / Normalize ---------------------------------------------------------
@pytest.mark.parametrize("shape", [(5, 7, 3), (5, 7, 1), (5, 7)])
def test_to_tensor_matches_torchvision(shape):
    img = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    ours = T.ToTensor()(img)
    theirs = tvt.ToTensor()(img).numpy()
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


def test_to_tensor_keeps_float_values_and_accepts_non_contiguous():
    img = image(dtype=np.float64)[:, ::-2]
    out = T.ToTensor()(img)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_allclose(out, img.transpose(2, 0, 1).astype(np.float32))


def test_normalize_matches_torchvision():
    x = T.ToTensor()(image())
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    ours = T.Normalize(mean, std)(x)
    theirs = tvt.Normalize(mean, std)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)
    assert ours.dtype == np.float32


def test_subtract_mean_per_channel():
    x = T.ToTensor()(image())
    out = T.SubtractMean([0.1, 0.2, 0.3])(x)
    for c, m in enumerate([0.1, 0.2, 0.3]):
        np.testing.assert_allclose(out[c], x[c] - np.float32(m), rtol=1e-6)


# ----- Resize -----------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 12), w=st.integers(1, 12), oh=st.integers(1, 20), ow=st.integers(1, 20))
def test_bilinear_resize_matches_torch_interpolate(h, w, oh, ow):
    img = image(h, w, 2, seed=h * 100 + w, dtype=np.float64)
    ours = T.bilinear_resize(img, oh, ow)
    theirs = TF.interpolate(chw(img)[None], size=(oh, ow), mode="bilinear",
                            align_corners=False, antialias=False)[0].numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_resize_uint8_matches_torchvision_within_rounding():
    img = image(31, 23)
    ours = T.Resize((45, 17))(img)
    theirs = tvf.resize(chw(img), [45, 17], antialias=False).numpy().transpose(1, 2, 0)
    assert ours.dtype == np.uint8 and ours.shape == (45, 17, 3)
    diff = np.abs(ours.astype(int) - theirs.astype(int))
    # Both round a float32 interpolation; the order of the float32 operations may
    # differ, which can move a value sitting at .5 by one.
    assert diff.max() <= 1 and (diff == 0).mean() > 0.99


@pytest.mark.parametrize("hw", [(20, 30), (30, 20), (25, 25), (7, 100)])
def test_resize_int_scales_the_shorter_side_like_torchvision(hw):
    img = image(*hw)
    ours = T.Resize(10)(img)
    theirs = tvt.Resize(10, antialias=False)(chw(img))
    assert ours.shape[:2] == tuple(theirs.shape[1:])


def test_resize_grayscale_hw():
    img = image(9, 6, c=None)
    assert T.Resize((4, 5))(img).shape == (4, 5)


# ----- CenterCrop / FiveCrop / TenCrop -------------------------------------------------------
@pytest.mark.parametrize("size", [(5, 8), (6, 6), (13, 17), 4, (16, 20)])
def test_center_crop_matches_torchvision(size):
    img = image(13, 17)
    ours = T.CenterCrop(size)(img)
    theirs = tvf.center_crop(chw(img), list(size) if isinstance(size, tuple) else [size])
    np.testing.assert_array_equal(ours, theirs.numpy().transpose(1, 2, 0))


@pytest.mark.parametrize("vertical", [False, True])
def test_ten_crop_matches_torchvision(vertical):
    img = image(11, 14)
    ours = T.TenCrop((6, 9), vertical_flip=vertical)(img)
    theirs = tvf.ten_crop(chw(img), [6, 9], vertical_flip=vertical)
    assert len(ours) == 10
    for i, (a, b) in enumerate(zip(ours, theirs)):
        np.testing.assert_array_equal(a, b.numpy().transpose(1, 2, 0), err_msg=f"crop {i}")


def test_ten_crop_then_stack_for_evaluation():
    pipeline = T.Compose([T.Resize(16), T.TenCrop(12), T.Lambda(
        lambda crops: np.stack([T.ToTensor()(c) for c in crops]))])
    out = pipeline(image(20, 30))
    assert out.shape == (10, 3, 12, 12) and out.dtype == np.float32


# ----- random transforms -----------------------------------------------------------------------
def find_window(haystack, needle):
    """All (top, left) where ``needle`` occurs in ``haystack``."""
    h, w = needle.shape[:2]
    return [(i, j) for i in range(haystack.shape[0] - h + 1)
            for j in range(haystack.shape[1] - w + 1)
            if np.array_equal(haystack[i:i + h, j:j + w], needle)]


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_random_crop_with_padding_is_a_window_of_the_padded_image(mode):
    img = image(8, 8)
    padded = np.pad(img, ((2, 2), (2, 2), (0, 0)), mode=mode)
    t = T.RandomCrop(8, padding=2, padding_mode=mode, seed=1)
    positions = set()
    for _ in range(60):
        out = t(img)
        assert out.shape == (8, 8, 3)
        found = find_window(padded, out)
        assert found, "the crop is not a window of the padded image"
        positions.update(found)
    assert len(positions) > 10             # the position really is random
    assert all(0 <= i <= 4 and 0 <= j <= 4 for i, j in positions)


def test_random_crop_padding_order_is_left_top_right_bottom():
    img = np.ones((4, 4), dtype=np.uint8)
    # Padding (left 1, top 2, right 3, bottom 0) makes 6 x 8: a 6 x 8 crop is all of it.
    out = T.RandomCrop((6, 8), padding=(1, 2, 3, 0))(img)
    np.testing.assert_array_equal(out, np.pad(img, ((2, 0), (1, 3))))
    # Two values: (left/right, top/bottom).
    out = T.RandomCrop((8, 6), padding=(1, 2))(img)
    np.testing.assert_array_equal(out, np.pad(img, ((2, 2), (1, 1))))


def test_random_crop_pad_if_needed():
    out = T.RandomCrop(10, pad_if_needed=True, seed=0)(image(6, 12))
    assert out.shape == (10, 10, 3)
    with pytest.raises(ValueError, match="larger than the"):
        T.RandomCrop(10)(image(6, 12))


def test_random_transforms_are_reproducible_with_a_seed():
    img = image(20, 20)

    def pipeline(seed):
        return T.Compose([T.RandomResizedCrop(8, seed=seed), T.RandomHorizontalFlip(seed=seed),
                          T.ToTensor(), T.Lighting(0.1, seed=seed)])
    a, b, c = pipeline(3), pipeline(3), pipeline(4)
    outs_a = [a(img) for _ in range(5)]
    outs_b = [b(img) for _ in range(5)]
    outs_c = [c(img) for _ in range(5)]
    for x, y in zip(outs_a, outs_b):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, z) for x, z in zip(outs_a, outs_c))


def test_random_resized_crop_params_respect_scale_and_ratio():
    t = T.RandomResizedCrop(8, scale=(0.2, 0.6), ratio=(0.5, 2.0), seed=0)
    for _ in range(200):
        top, left, h, w = t.get_params(40, 50)
        assert 0 <= top <= 40 - h and 0 <= left <= 50 - w
        # rounding h and w to integers moves area and ratio slightly
        assert 0.2 * 0.9 <= h * w / 2000 <= 0.6 * 1.1
        assert 0.5 * 0.8 <= w / h <= 2.0 * 1.25


@pytest.mark.parametrize("hw,ratio", [((10, 40), (0.75, 1.33)), ((40, 10), (0.75, 1.33)),
                                      ((20, 30), (0.5, 2.0))])
def test_random_resized_crop_fallback_matches_torchvision(hw, ratio):
    # A scale above 1 can never fit, so both fall back to their central crop.
    ours = T.RandomResizedCrop(8, scale=(2.0, 3.0), ratio=ratio, seed=0).get_params(*hw)
    theirs = tvt.RandomResizedCrop.get_params(torch.zeros(3, *hw), scale=[2.0, 3.0],
                                              ratio=list(ratio))
    assert ours == tuple(theirs)


def test_random_resized_crop_output_is_the_resized_region():
    img = image(30, 40)
    t = T.RandomResizedCrop((9, 7), seed=5)
    replay = T.RandomResizedCrop((9, 7), seed=5)
    out = t(img)
    top, left, h, w = replay.get_params(30, 40)
    np.testing.assert_array_equal(out, T.bilinear_resize(img[top:top + h, left:left + w], 9, 7))


@pytest.mark.parametrize("hw", [(20, 30), (30, 20), (25, 25)])
def test_random_shorter_side_draws_every_size_in_range_and_keeps_the_aspect(hw):
    img = image(*hw)
    t = T.RandomShorterSide(6, 9, seed=0)
    replay = np.random.default_rng(0)
    sizes = set()
    for _ in range(60):
        out = t(img)
        s = int(replay.integers(6, 10))                   # the same draw: both ends included
        np.testing.assert_array_equal(out, T.Resize(s)(img))
        theirs = tvt.Resize(s, antialias=False)(chw(img))  # torchvision's shorter-side rule
        assert out.shape[:2] == tuple(theirs.shape[1:]) and min(out.shape[:2]) == s
        sizes.add(s)
    assert sizes == {6, 7, 8, 9}


def test_random_shorter_side_rejects_a_bad_range():
    with pytest.raises(ValueError, match="RandomShorterSide: expected whole numbers 1 <= "
                       "min_size <= max_size, got min_size=9, max_size=6"):
        T.RandomShorterSide(9, 6)
    with pytest.raises(ValueError, match="min_size=0"):
        T.RandomShorterSide(0, 6)
    with pytest.raises(TypeError, match="RandomShorterSide: expected an image array"):
        T.RandomShorterSide(2, 3)(np.zeros((1, 3, 8, 8)))


@pytest.mark.parametrize("padding", [2, (1, 3), (1, 2, 3, 0)])
@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_pad_matches_torchvision(padding, mode):
    img = image(5, 6)
    ours = T.Pad(padding, fill=7, padding_mode=mode)(img)
    theirs = tvf.pad(chw(img), list(padding) if isinstance(padding, tuple) else padding,
                     fill=7, padding_mode=mode).numpy().transpose(1, 2, 0)
    np.testing.assert_array_equal(ours, theirs)


def test_random_horizontal_flip():
    img = image()
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(img), img[:, ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(img), img)
    t = T.RandomHorizontalFlip(seed=0)
    flips = sum(np.array_equal(t(img), img[:, ::-1]) for _ in range(400))
    assert 150 < flips < 250


def test_lighting_adds_the_pca_offset():
    x = T.ToTensor()(image())
    out = T.Lighting(0.1, seed=7)(x)
    alpha = np.random.default_rng(7).normal(0.0, 0.1, size=3)      # the same draw
    eigval, eigvec = T.IMAGENET_EIGVAL, T.IMAGENET_EIGVEC
    for c in range(3):
        offset = sum(eigvec[c][j] * alpha[j] * eigval[j] for j in range(3))
        np.testing.assert_allclose(out[c], x[c] + offset, rtol=1e-5, atol=1e-6)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(T.Lighting(0.0)(x), x)


def test_transforms_do_not_modify_their_input():
    img = image(20, 20)
    copy = img.copy()
    for t in [T.RandomCrop(10, padding=2), T.RandomResizedCrop(8), T.RandomHorizontalFlip(1.0),
              T.Resize(7), T.CenterCrop(5), T.TenCrop(6)]:
        t(img)
    np.testing.assert_array_equal(img, copy)
    x = T.ToTensor()(img)
    x_copy = x.copy()
    T.Normalize(T.IMAGENET_MEAN, T.IMAGENET_STD)(x)
    T.Lighting(0.5)(x)
    np.testing.assert_array_equal(x, x_copy)


# ----- bad input ----------------------------------------------------------------------------------
def test_errors_name_the_transform_and_the_layout():
    x = T.ToTensor()(image())
    with pytest.raises(TypeError, match="RandomCrop: expected an image array .* before ToTensor"):
        T.RandomCrop(4)(np.zeros((2, 3, 8, 8)))
    with pytest.raises(TypeError, match="Normalize: expected a float array \\(C, H, W\\)"):
        T.Normalize([0.5], [0.5])(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="Normalize: 2 channel means for an image with 3"):
        T.Normalize([0.5, 0.5], [0.5, 0.5])(x)
    with pytest.raises(ValueError, match="Lighting: expected 3 channels"):
        T.Lighting()(image().astype(np.float32))          # HWC by mistake
    with pytest.raises(ValueError, match="std must be non-zero"):
        T.Normalize([0.0], [0.0])
    with pytest.raises(ValueError, match="FiveCrop: crop size"):
        T.FiveCrop(50)(image())
    with pytest.raises(ValueError, match="padding_mode"):
        T.RandomCrop(3, padding_mode="wrap")
