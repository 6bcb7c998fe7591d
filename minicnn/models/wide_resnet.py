"""Wide Residual Networks for CIFAR: Zagoruyko & Komodakis, "Wide Residual Networks" (2016).

WRN-d-k: a 3x3 conv with 16 filters, three stages of (d-4)/6 pre-activation basic blocks
(BN-ReLU-conv3x3, BN-ReLU-dropout-conv3x3, see preact_resnet.PreActBasicBlock) with
16k, 32k and 64k filters (stages 2 and 3 start with stride 2), a final BN-ReLU, global
average pooling and fc.  Where a block changes the width, the shortcut is a 1x1 conv of
the block's activated input.  ``dropout`` (the paper's 0.3 on CIFAR) sits between the
two convs of every block.  The paper's argument: a shallower, k times wider ResNet (k^2
times the parameters per layer) trains faster on a GPU and is more accurate than a thin
deep one: WRN-16-8 (11.0M) beats ResNet-1001 (10.2M) on CIFAR-10.

Parameters (10 classes): WRN-40-4 8,949,210; WRN-16-8 10,961,370; WRN-28-10 36,479,194
(the paper: 8.9M, 11.0M, 36.5M).
"""
from .. import functional as F
from .. import nn
from ._weights import load_weights
from .preact_resnet import PreActBasicBlock, _init, conv3x3


class WideResNet(nn.Module):
    """WRN-``depth``-``widen_factor``; ``depth`` = 6n+4 (10, 16, 22, 28, 40, ...)."""

    def __init__(self, depth=28, widen_factor=10, num_classes=10, dropout=0.0):
        super().__init__()
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"minicnn: WideResNet: depth must be 6n+4 (10, 16, 22, 28, 40, ...), "
                             f"got {depth}")
        if widen_factor < 1:
            raise ValueError(f"minicnn: WideResNet: widen_factor must be >= 1, got {widen_factor}")
        n = (depth - 4) // 6
        widths = [16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.conv1 = conv3x3(3, 16)
        self.layer1 = self._make_layer(16, widths[0], n, 1, dropout)
        self.layer2 = self._make_layer(widths[0], widths[1], n, 2, dropout)
        self.layer3 = self._make_layer(widths[1], widths[2], n, 2, dropout)
        self.bn = nn.BatchNorm2d(widths[2])
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[2], num_classes)
        _init(self)

    @staticmethod
    def _make_layer(inplanes, planes, blocks, stride, dropout):
        layers = [PreActBasicBlock(inplanes, planes, stride, dropout=dropout)]
        layers += [PreActBasicBlock(planes, planes, dropout=dropout) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.conv1(x)
        x = self.layer3(self.layer2(self.layer1(x)))
        x = self.relu(self.bn(x))
        return self.fc(F.flatten(self.avgpool(x), 1))


def wrn(depth, widen_factor, num_classes=10, dropout=0.0, weights=None):
    """WRN-``depth``-``widen_factor`` for CIFAR, e.g. ``wrn(28, 10)`` (36.5M parameters) or
    ``wrn(40, 4)`` (8.9M); ``dropout`` between the convs of each block (the paper: 0.3);
    ``weights``: a .pth path or state dict."""
    return load_weights(WideResNet(depth, widen_factor, num_classes, dropout), weights)


def wrn16_8(weights=None, **kwargs):
    """WRN-16-8 (11.0M parameters); ``num_classes``, ``dropout``."""
    return wrn(16, 8, weights=weights, **kwargs)


def wrn28_10(weights=None, **kwargs):
    """WRN-28-10 (36.5M parameters); ``num_classes``, ``dropout``."""
    return wrn(28, 10, weights=weights, **kwargs)


def wrn40_4(weights=None, **kwargs):
    """WRN-40-4 (8.9M parameters); ``num_classes``, ``dropout``."""
    return wrn(40, 4, weights=weights, **kwargs)
