"""ResNet (He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", 2015),
with torchvision's module names.

The idea: each block learns a *residual* F(x) and outputs relu(F(x) + x).  The
identity path lets the signal and the gradient pass through a hundred layers
unchanged, so adding layers can no longer make training worse.  Where a block
changes the size (stride 2) or the channel count, the shortcut becomes a 1x1
conv + BN (``downsample``).  ResNet-18/34 stack ``BasicBlock`` (two 3x3 convs);
ResNet-50/101/152 stack ``Bottleneck`` (1x1 reduce, 3x3, 1x1 expand by 4),
which is cheaper per layer at the same width.

Two variants change only the bottleneck's 3x3 conv (``groups`` and ``width_per_group``,
torchvision's meaning: the 3x3 conv has width = int(planes * width_per_group / 64) * groups
channels, split into ``groups`` independent groups):
  * ResNeXt (Xie et al., "Aggregated Residual Transformations", 2017): the 3x3 conv is
    grouped into C parallel paths of d channels each ("cardinality" C, "32x4d" = 32 paths
    of 4 channels at the first stage); more paths at the same cost beat a wider or deeper
    ResNet;
  * Wide ResNet (Zagoruyko & Komodakis, 2016, as torchvision builds it for ImageNet): the
    bottleneck's inner width doubled (width_per_group=128), the 1x1 expansion kept.
"""
from .. import functional as F
from .. import nn
from ._weights import load_weights, resolve_weights


def conv3x3(in_planes, out_planes, stride=1, groups=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1,
                     groups=groups, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), both convs 3x3."""
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, stride_in_1x1=False,
                 groups=1, base_width=64):
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 conv to ``planes`` channels, 3x3 conv, 1x1 conv to 4*planes, plus the shortcut.

    Where the block downsamples, torchvision puts the stride on the 3x3 conv ("ResNet
    v1.5", slightly more accurate); the paper puts it on the first 1x1 conv
    (``stride_in_1x1=True``), which skips three quarters of the input positions.

    ``groups`` and ``base_width`` (ResNeXt, Wide ResNet): the inner width is
    int(planes * base_width / 64) * groups and the 3x3 conv is split into ``groups``
    groups; the defaults (1, 64) give ResNet's bottleneck.
    """
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, stride_in_1x1=False,
                 groups=1, base_width=64):
        super().__init__()
        stride1x1, stride3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width, stride1x1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride3x3, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """Stem (7x7/2 conv, BN, ReLU, 3x3/2 max pool), four stages of blocks at 64, 128,
    256 and 512 "planes" (stages 2-4 start with stride 2), global average pooling, fc.
    ``groups`` and ``width_per_group`` go to every Bottleneck (ResNeXt, Wide ResNet)."""

    def __init__(self, block, layers, num_classes=1000, zero_init_residual=False,
                 groups=1, width_per_group=64, stride_in_1x1=False):
        super().__init__()
        self.inplanes = 64
        self.groups = groups
        self.base_width = width_per_group
        self.stride_in_1x1 = stride_in_1x1
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            # the last BN of each residual branch starts at 0: every block starts as the
            # identity, which helps early training (Goyal et al., 2017)
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.constant_(m.bn3.weight, 0)
                elif isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        widths = dict(groups=self.groups, base_width=self.base_width)
        layers = [block(self.inplanes, planes, stride, downsample, self.stride_in_1x1, **widths)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, stride_in_1x1=self.stride_in_1x1, **widths)
                   for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))   # (N, 64, H/4, W/4)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)                                      # (N, 512*expansion, H/32, W/32)
        x = F.flatten(self.avgpool(x), 1)
        return self.fc(x)


def _resnet(name, block, layers, weights, kwargs):
    weights = resolve_weights(name, weights, kwargs)
    return load_weights(ResNet(block, layers, **kwargs), weights)


def resnet18(weights=None, **kwargs):
    """ResNet-18: BasicBlocks [2, 2, 2, 2].  Options: ``num_classes``,
    ``zero_init_residual``; ``weights``: ``"DEFAULT"`` or a weights name such as
    ``"IMAGENET1K_V1"`` (torchvision's file, downloaded once into PyTorch's cache), a .pth
    path or a state dict; ``pretrained=True`` as in torchvision (the same for every ResNet,
    ResNeXt and Wide ResNet here)."""
    return _resnet("resnet18", BasicBlock, [2, 2, 2, 2], weights, kwargs)


def resnet34(weights=None, **kwargs):
    """ResNet-34: BasicBlocks [3, 4, 6, 3]."""
    return _resnet("resnet34", BasicBlock, [3, 4, 6, 3], weights, kwargs)


def resnet50(weights=None, **kwargs):
    """ResNet-50: Bottlenecks [3, 4, 6, 3].  ``stride_in_1x1=True`` gives the paper's
    (v1) stride placement instead of torchvision's v1.5; the weights have the same keys."""
    return _resnet("resnet50", Bottleneck, [3, 4, 6, 3], weights, kwargs)


def resnet101(weights=None, **kwargs):
    """ResNet-101: Bottlenecks [3, 4, 23, 3]."""
    return _resnet("resnet101", Bottleneck, [3, 4, 23, 3], weights, kwargs)


def resnet152(weights=None, **kwargs):
    """ResNet-152: Bottlenecks [3, 8, 36, 3]."""
    return _resnet("resnet152", Bottleneck, [3, 8, 36, 3], weights, kwargs)


def resnext50_32x4d(weights=None, **kwargs):
    """ResNeXt-50 32x4d: ResNet-50's Bottlenecks [3, 4, 6, 3] with the 3x3 conv split into
    32 groups of 4 channels at the first stage (groups=32, width_per_group=4)."""
    return _resnet("resnext50_32x4d", Bottleneck, [3, 4, 6, 3], weights,
                   dict(groups=32, width_per_group=4, **kwargs))


def resnext101_32x8d(weights=None, **kwargs):
    """ResNeXt-101 32x8d: Bottlenecks [3, 4, 23, 3], 32 groups of 8 channels."""
    return _resnet("resnext101_32x8d", Bottleneck, [3, 4, 23, 3], weights,
                   dict(groups=32, width_per_group=8, **kwargs))


def resnext101_64x4d(weights=None, **kwargs):
    """ResNeXt-101 64x4d: Bottlenecks [3, 4, 23, 3], 64 groups of 4 channels."""
    return _resnet("resnext101_64x4d", Bottleneck, [3, 4, 23, 3], weights,
                   dict(groups=64, width_per_group=4, **kwargs))


def wide_resnet50_2(weights=None, **kwargs):
    """Wide ResNet-50-2: ResNet-50 with every bottleneck's inner width doubled
    (width_per_group=128); the 1x1 expansion to 4*planes channels is unchanged."""
    return _resnet("wide_resnet50_2", Bottleneck, [3, 4, 6, 3], weights,
                   dict(width_per_group=128, **kwargs))


def wide_resnet101_2(weights=None, **kwargs):
    """Wide ResNet-101-2: ResNet-101 with every bottleneck's inner width doubled."""
    return _resnet("wide_resnet101_2", Bottleneck, [3, 4, 23, 3], weights,
                   dict(width_per_group=128, **kwargs))
