"""The CPU speed and memory work keeps the numbers: the convolution op built a few images
at a time, and batch norm's recomputed xhat."""
import numpy as np
import pytest
import torch.nn.functional as TF

import minicnn as mc
import minicnn.functional as F
from minicnn import geometry
from minicnn.functional import conv as conv_module
from minicnn.utils import compare_with_torch


@pytest.mark.parametrize("budget_images", [1, 2, 5])
@pytest.mark.parametrize("kw", [dict(stride=2, padding=1), dict(),
                                dict(padding=(0, 1), dilation=2, groups=2)])
def test_conv2d_in_chunks_of_images_matches_torch(monkeypatch, budget_images, kw):
    """The op builds columns a few images at a time (a 1x1 kernel: none at all); each chunk's
    weight gradient is one GEMM.  Chunks of 1, 2 (5 = 2 + 2 + 1) and all 5 images agree
    with PyTorch, forward and every gradient."""
    rng = np.random.default_rng(3)
    for kernel in (3, 1):
        x = rng.standard_normal((5, 4, 7, 6))
        w = rng.standard_normal((6, 4 // kw.get("groups", 1), kernel, kernel))
        b = rng.standard_normal(6)
        K = w.shape[1] * kernel * kernel
        L = np.prod(geometry.output_hw(x.shape, *(geometry.pair(v, name, "test") for v, name in (
            (kernel, "kernel"), (kw.get("stride", 1), "stride"), (kw.get("padding", 0), "padding"),
            (kw.get("dilation", 1), "dilation")))))
        per_image = int(K * kw.get("groups", 1) * L)                 # column elements
        monkeypatch.setattr(conv_module, "COLUMN_BUDGET_BYTES", budget_images * per_image * 8)
        assert len(conv_module._image_chunks(x, per_image)) == -(-5 // budget_images)
        compare_with_torch(lambda *t: F.conv2d(*t, **kw), lambda *t: TF.conv2d(*t, **kw), x, w, b)


def test_batch_norm_keeps_no_normalised_copy_of_its_input():
    """Backward recomputes xhat from the saved input and statistics: besides the input itself
    the op keeps nothing of the input's size (the gradients are checked in test_norm.py)."""
    x = mc.Tensor(np.random.default_rng(4).standard_normal((4, 3, 5, 5)), requires_grad=True)
    y = F.batch_norm(x, None, None, training=True)
    big = [name for name, v in vars(y.grad_fn).items()
           if isinstance(v, np.ndarray) and v.size == x.numel()]
    assert big == ["x"]
    assert vars(y.grad_fn)["x"] is x.data
