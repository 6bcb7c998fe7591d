"""Pre-activation ResNets: He, Zhang, Ren & Sun, "Identity Mappings in Deep Residual
Networks" (2016).

The change from the 2015 ResNet: BN and ReLU move *before* each conv ("pre-activation")
and nothing follows the addition, so a block is x + F(x) with a clean identity path:
x_L = x_l + sum of the residuals between, and the gradient reaches every earlier block
unchanged.  Where a block changes the width or the map size, its BN-ReLU is applied
before the split and the shortcut is a 1x1 conv (no BN) of the activated input (the
paper: "we adopt the first activation right after conv1 and before splitting into two
paths").  A final BN-ReLU follows the last addition, before the pooling.

- ``preact_resnet164`` / ``preact_resnet1001`` (``PreActResNetCifar``): the paper's CIFAR
  bottleneck nets of depth 9n+2 (n = 18, 111): a 3x3 conv with 16 filters, three stages of
  n bottleneck blocks with 64, 128 and 256 output channels (1x1 to a quarter, 3x3, 1x1
  back; the stride on the first 1x1, as in the authors' code), BN-ReLU, pooling, fc.
  1,703,258 and 10,327,706 parameters (10 classes; the paper: 1.7M and 10.2M).
- ``preact_resnet18/34/50`` (``PreActResNet``): the ImageNet form of fb.resnet.torch's
  preresnet: ResNet's stem (7x7/2 conv, BN, ReLU, 3x3/2 max pool) -- whose BN-ReLU is the
  first block's pre-activation --, four stages of pre-activation blocks (bottlenecks with
  the stride on the 3x3), a final BN-ReLU, pooling, fc.
"""
from .. import functional as F
from .. import nn
from ._weights import load_weights


def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def _init(model):
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


class PreActBasicBlock(nn.Module):
    """x + conv2(dropout(relu(bn2(conv1(relu(bn1(x))))))), both convs 3x3; the shortcut is
    a 1x1 conv of relu(bn1(x)) where the shape changes.  ``preact=False``: no bn1 (the
    input is already activated: the block after the ImageNet stem).  ``dropout``: between
    the convs (Wide ResNets)."""
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, preact=True, dropout=0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes) if preact else None
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.conv2 = conv3x3(planes, planes)
        self.downsample = (conv1x1(inplanes, planes, stride)
                           if stride != 1 or inplanes != planes else None)

    def forward(self, x):
        out = x if self.bn1 is None else self.relu(self.bn1(x))
        shortcut = x if self.downsample is None else self.downsample(out)
        out = self.relu(self.bn2(self.conv1(out)))
        if self.dropout is not None:
            out = self.dropout(out)
        return self.conv2(out) + shortcut


class PreActBottleneck(nn.Module):
    """x + conv3(relu(bn3(conv2(relu(bn2(conv1(relu(bn1(x))))))))): 1x1 to ``planes``,
    3x3, 1x1 to 4 * ``planes``; the stride on the first 1x1 (``stride_in_1x1``, the
    authors' CIFAR code) or on the 3x3 (fb.resnet.torch's ImageNet preresnet)."""
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, preact=True, stride_in_1x1=False):
        super().__init__()
        stride1x1, stride3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.bn1 = nn.BatchNorm2d(inplanes) if preact else None
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = conv1x1(inplanes, planes, stride1x1)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride3x3)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * 4)
        self.downsample = (conv1x1(inplanes, planes * 4, stride)
                           if stride != 1 or inplanes != planes * 4 else None)

    def forward(self, x):
        out = x if self.bn1 is None else self.relu(self.bn1(x))
        shortcut = x if self.downsample is None else self.downsample(out)
        out = self.relu(self.bn2(self.conv1(out)))
        out = self.relu(self.bn3(self.conv2(out)))
        return self.conv3(out) + shortcut


class PreActResNetCifar(nn.Module):
    """The CIFAR pre-activation bottleneck ResNet of depth 9n+2 (11, 20, ..., 164, 1001)."""

    def __init__(self, depth=164, num_classes=10):
        super().__init__()
        if depth < 11 or (depth - 2) % 9:
            raise ValueError(f"minicnn: PreActResNetCifar: depth must be 9n+2 (11, 20, ..., 164, "
                             f"1001), got {depth}")
        n = (depth - 2) // 9
        self.conv1 = conv3x3(3, 16)
        self.layer1 = self._make_layer(16, 16, n, 1)      # 64 channels out, 32x32
        self.layer2 = self._make_layer(64, 32, n, 2)      # 128, 16x16
        self.layer3 = self._make_layer(128, 64, n, 2)     # 256, 8x8
        self.bn = nn.BatchNorm2d(256)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(256, num_classes)
        _init(self)

    @staticmethod
    def _make_layer(inplanes, planes, blocks, stride):
        layers = [PreActBottleneck(inplanes, planes, stride, stride_in_1x1=True)]
        layers += [PreActBottleneck(planes * 4, planes, stride_in_1x1=True)
                   for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.conv1(x)
        x = self.layer3(self.layer2(self.layer1(x)))
        x = self.relu(self.bn(x))
        return self.fc(F.flatten(self.avgpool(x), 1))


class PreActResNet(nn.Module):
    """The ImageNet-form pre-activation ResNet: ``block`` (PreActBasicBlock or
    PreActBottleneck) in four stages of ``layers`` blocks at 64, 128, 256, 512 planes."""

    def __init__(self, block, layers, num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0], 1, preact=False)
        self.layer2 = self._make_layer(block, 128, layers[1], 2)
        self.layer3 = self._make_layer(block, 256, layers[2], 2)
        self.layer4 = self._make_layer(block, 512, layers[3], 2)
        self.bn = nn.BatchNorm2d(512 * block.expansion)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        _init(self)

    def _make_layer(self, block, planes, blocks, stride, preact=True):
        layers = [block(self.inplanes, planes, stride, preact=preact)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.relu(self.bn(x))
        return self.fc(F.flatten(self.avgpool(x), 1))


def preact_resnet_cifar(depth, weights=None, **kwargs):
    """The CIFAR pre-activation bottleneck ResNet of any depth 9n+2 (``num_classes``=10)."""
    return load_weights(PreActResNetCifar(depth, **kwargs), weights)


def preact_resnet164(weights=None, **kwargs):
    """Pre-activation ResNet-164 for CIFAR (bottlenecks, n=18; 1.7M parameters)."""
    return preact_resnet_cifar(164, weights, **kwargs)


def preact_resnet1001(weights=None, **kwargs):
    """Pre-activation ResNet-1001 for CIFAR (bottlenecks, n=111; 10.2M parameters)."""
    return preact_resnet_cifar(1001, weights, **kwargs)


def preact_resnet18(weights=None, **kwargs):
    """Pre-activation ResNet-18, ImageNet form (basic blocks [2, 2, 2, 2])."""
    return load_weights(PreActResNet(PreActBasicBlock, [2, 2, 2, 2], **kwargs), weights)


def preact_resnet34(weights=None, **kwargs):
    """Pre-activation ResNet-34, ImageNet form (basic blocks [3, 4, 6, 3])."""
    return load_weights(PreActResNet(PreActBasicBlock, [3, 4, 6, 3], **kwargs), weights)


def preact_resnet50(weights=None, **kwargs):
    """Pre-activation ResNet-50, ImageNet form (bottlenecks [3, 4, 6, 3])."""
    return load_weights(PreActResNet(PreActBottleneck, [3, 4, 6, 3], **kwargs), weights)
