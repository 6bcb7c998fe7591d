"""The CIFAR-10 ResNets of He, Zhang, Ren & Sun, "Deep Residual Learning for Image
Recognition" (2015), section 4.2, and their "plain" twins.

The network (32x32 input): a 3x3 conv with 16 filters, then three stages of 2n 3x3
conv layers with 16, 32 and 64 filters on 32x32, 16x16 and 8x8 maps (the first conv of
stages 2 and 3 has stride 2), global average pooling and a 10-way fc: 6n+2 weighted
layers, n = 3, 5, 7, 9, 18 for ResNet-20, 32, 44, 56, 110.  Every conv is followed by
batch norm; the layers are paired into residual blocks

    relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))

**Shortcut: option A**, as the paper uses on CIFAR ("we use identity shortcuts in all
cases (i.e., option A)"): the identity, and where a block halves the map and doubles
the filters, the input subsampled with stride 2 (``x[:, :, ::2, ::2]``) and padded
with zero channels up to the new width (appended after the existing ones, as in
fb.resnet.torch's reproduction; the paper does not say where).  Option A has no
parameters, so a ResNet has exactly as many as its plain twin -- which is the point of
the paper's CIFAR experiment: the same network, with and without shortcuts, where the
plain one gets *worse* as it gets deeper (the degradation problem) and the residual
one gets better.  Options B/C (1x1 projection convs) would add parameters.

The plain nets (``plain20`` ... ``plain110``) are the same layers without shortcuts:
``relu(bn2(conv2(relu(bn1(conv1(x))))))`` per block.

Parameters (10 classes): 269,722 / 464,154 / 658,586 / 853,018 / 1,727,962 for
ResNet-20/32/44/56/110; the paper rounds them to 0.27M, 0.46M, 0.66M, 0.85M, 1.7M.
"""
from .. import functional as F
from .. import nn
from ..autograd import Tensor
from .. import backend
from ._weights import load_weights


def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class ZeroPadShortcut(nn.Module):
    """Option A: the input subsampled with ``stride`` and ``pad_channels`` zero channels
    appended: (N, C, H, W) -> (N, C + pad_channels, H / stride, W / stride).  No parameters."""

    def __init__(self, pad_channels, stride=2):
        super().__init__()
        self.pad_channels = pad_channels
        self.stride = stride

    def forward(self, x):
        s = self.stride
        x = x[:, :, ::s, ::s]
        n, _, h, w = x.shape
        xp = backend.get_array_module(x.data)
        zeros = Tensor(xp.zeros((n, self.pad_channels, h, w), dtype=x.data.dtype))
        return F.cat([x, zeros], dim=1)

    def extra_repr(self):
        return f"pad_channels={self.pad_channels}, stride={self.stride}"


class CifarBasicBlock(nn.Module):
    """Two 3x3 conv + BN layers; ``residual=False``: no shortcut (the plain net)."""

    def __init__(self, inplanes, planes, stride=1, residual=True):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.residual = residual
        self.downsample = None
        if residual and (stride != 1 or inplanes != planes):
            self.downsample = ZeroPadShortcut(planes - inplanes, stride)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class CifarResNet(nn.Module):
    """He et al. 2015's CIFAR network of depth 6n+2 (``depth`` in 20, 32, 44, 56, 110, ...);
    ``residual=False`` builds the plain net."""

    def __init__(self, depth=20, num_classes=10, residual=True):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"minicnn: CifarResNet: depth must be 6n+2 (8, 14, 20, 32, ...), "
                             f"got {depth}")
        n = (depth - 2) // 6
        self.residual = residual
        self.inplanes = 16
        self.conv1 = conv3x3(3, 16)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(16, n, 1)
        self.layer2 = self._make_layer(32, n, 2)
        self.layer3 = self._make_layer(64, n, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):        # He et al.'s initialisation ("Delving deep")
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes, blocks, stride):
        layers = [CifarBasicBlock(self.inplanes, planes, stride, self.residual)]
        self.inplanes = planes
        layers += [CifarBasicBlock(planes, planes, 1, self.residual) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))     # (N, 16, 32, 32)
        x = self.layer3(self.layer2(self.layer1(x)))   # (N, 64, 8, 8)
        return self.fc(F.flatten(self.avgpool(x), 1))


def _cifar(depth, residual, weights, kwargs):
    return load_weights(CifarResNet(depth, residual=residual, **kwargs), weights)


def resnet20(weights=None, **kwargs):
    """ResNet-20 for CIFAR (n=3, 0.27M parameters), option A shortcuts.  ``num_classes``
    (default 10); ``weights``: a .pth path or state dict."""
    return _cifar(20, True, weights, kwargs)


def resnet32(weights=None, **kwargs):
    """ResNet-32 for CIFAR (n=5, 0.46M parameters)."""
    return _cifar(32, True, weights, kwargs)


def resnet44(weights=None, **kwargs):
    """ResNet-44 for CIFAR (n=7, 0.66M parameters)."""
    return _cifar(44, True, weights, kwargs)


def resnet56(weights=None, **kwargs):
    """ResNet-56 for CIFAR (n=9, 0.85M parameters)."""
    return _cifar(56, True, weights, kwargs)


def resnet110(weights=None, **kwargs):
    """ResNet-110 for CIFAR (n=18, 1.7M parameters)."""
    return _cifar(110, True, weights, kwargs)


def plain20(weights=None, **kwargs):
    """The plain 20-layer CIFAR net: ResNet-20 without shortcuts."""
    return _cifar(20, False, weights, kwargs)


def plain32(weights=None, **kwargs):
    """The plain 32-layer CIFAR net."""
    return _cifar(32, False, weights, kwargs)


def plain44(weights=None, **kwargs):
    """The plain 44-layer CIFAR net."""
    return _cifar(44, False, weights, kwargs)


def plain56(weights=None, **kwargs):
    """The plain 56-layer CIFAR net (its training error is above plain20's: Figure 6)."""
    return _cifar(56, False, weights, kwargs)


def plain110(weights=None, **kwargs):
    """The plain 110-layer CIFAR net."""
    return _cifar(110, False, weights, kwargs)


# ----- stochastic depth (Huang, Sun, Liu, Sedra & Weinberger, "Deep Networks with
# ----- Stochastic Depth", 2016)
class StochasticDepthBlock(CifarBasicBlock):
    """A CIFAR basic block whose residual branch ``nn.StochasticDepth(p, "row")`` drops
    per sample in training (kept branches scaled by 1/(1-p)); the shortcut is always kept:

        relu(stochastic_depth(bn2(conv2(relu(bn1(conv1(x)))))) + shortcut(x))

    In eval mode the branch is always there (the paper's test-time rule: the branch
    times its survival probability, which the 1/(1-p) scaling in training makes 1)."""

    def __init__(self, inplanes, planes, stride=1, p=0.0):
        super().__init__(inplanes, planes, stride)
        self.stochastic_depth = nn.StochasticDepth(p, "row")

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.stochastic_depth(self.bn2(self.conv2(out)))
        out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class StochasticDepthResNet(CifarResNet):
    """He et al.'s CIFAR ResNet of depth 6n+2 with stochastic depth: block l of the
    L = 3n blocks (counted from the input, 1-based) is dropped with probability
    ``l / L * (1 - p_last)`` -- the paper's linear decay of the survival probability
    from 1 at the input to ``p_last`` (p_L) at the last block."""

    def __init__(self, depth=110, p_last=0.5, num_classes=10):
        if not 0.0 <= p_last <= 1.0:
            raise ValueError(f"minicnn: StochasticDepthResNet: p_last must be in [0, 1], "
                             f"got {p_last}")
        super().__init__(depth, num_classes)
        self.p_last = p_last
        blocks = [m for m in self.modules() if isinstance(m, StochasticDepthBlock)]
        for l, block in enumerate(blocks, 1):
            block.stochastic_depth.p = l / len(blocks) * (1 - p_last)

    def _make_layer(self, planes, blocks, stride):
        # the blocks of CifarResNet with their stochastic depth layers (p set afterwards)
        layers = [StochasticDepthBlock(self.inplanes, planes, stride)]
        self.inplanes = planes
        layers += [StochasticDepthBlock(planes, planes, 1) for _ in range(1, blocks)]
        return nn.Sequential(*layers)


def resnet110_stochastic_depth(weights=None, p_last=0.5, **kwargs):
    """The 110-layer CIFAR ResNet with stochastic depth (Huang et al. 2016): 54 blocks,
    block l's residual branch dropped with probability l / 54 * (1 - ``p_last``) in
    training (``p_last`` = 0.5: the paper's p_L), identity (option A) shortcuts always
    kept; 1,727,962 parameters (1.7M), as ResNet-110."""
    return load_weights(StochasticDepthResNet(110, p_last=p_last, **kwargs), weights)
