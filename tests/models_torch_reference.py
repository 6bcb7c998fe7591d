"""PyTorch definitions of the paper versions torchvision lacks, used only by the parity
tests (tests/models/test_models.py): AlexNet (2012), VGG-11 with LRN (configuration A-LRN)
and GoogLeNet (2014).  Written from the papers, independently of minicnn's code, with
the module names minicnn uses so that state dicts can be copied across.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def paper_alexnet_lrn():
    # the paper's k=2, n=5, alpha=1e-4, beta=0.75; PyTorch divides alpha by n
    return nn.LocalResponseNorm(5, alpha=5 * 1e-4, beta=0.75, k=2.0)


class AlexNet2012(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(inplace=True), paper_alexnet_lrn(),
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(inplace=True), paper_alexnet_lrn(),
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Linear(9216, 4096), nn.ReLU(inplace=True),
            nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def vgg11_lrn(num_classes=1000, **kwargs):
    layers, c = [], 3
    for v in [64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        elif v == "LRN":
            layers.append(paper_alexnet_lrn())
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
            c = v
    return torchvision.models.vgg.VGG(nn.Sequential(*layers), num_classes=num_classes, **kwargs)


class ConvReLU(nn.Module):
    def __init__(self, cin, cout, **kw):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, **kw)

    def forward(self, x):
        return F.relu(self.conv(x))


class Inception2014(nn.Module):
    def __init__(self, cin, c1, c3r, c3, c5r, c5, pp):
        super().__init__()
        self.branch1 = ConvReLU(cin, c1, kernel_size=1)
        self.branch2 = nn.Sequential(ConvReLU(cin, c3r, kernel_size=1),
                                     ConvReLU(c3r, c3, kernel_size=3, padding=1))
        self.branch3 = nn.Sequential(ConvReLU(cin, c5r, kernel_size=1),
                                     ConvReLU(c5r, c5, kernel_size=5, padding=2))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                     ConvReLU(cin, pp, kernel_size=1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux2014(nn.Module):
    def __init__(self, cin, num_classes):
        super().__init__()
        self.conv = ConvReLU(cin, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(0.7)
        self.avgpool = nn.AvgPool2d(5, stride=3, ceil_mode=True)

    def forward(self, x):
        x = torch.flatten(self.conv(self.avgpool(x)), 1)
        return self.fc2(self.dropout(F.relu(self.fc1(x))))


class GoogLeNet2014(nn.Module):
    def __init__(self, num_classes=1000, aux_logits=True):
        super().__init__()
        lrn = lambda: nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)   # noqa: E731
        self.conv1 = ConvReLU(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.lrn1 = lrn()
        self.conv2 = ConvReLU(64, 64, kernel_size=1)
        self.conv3 = ConvReLU(64, 192, kernel_size=3, padding=1)
        self.lrn2 = lrn()
        self.maxpool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception3a = Inception2014(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception2014(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception4a = Inception2014(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception2014(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception2014(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception2014(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception2014(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception5a = Inception2014(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception2014(832, 384, 192, 384, 48, 128, 128)
        self.aux_logits = aux_logits
        self.aux1 = InceptionAux2014(512, num_classes) if aux_logits else None
        self.aux2 = InceptionAux2014(528, num_classes) if aux_logits else None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.4)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = self.lrn1(self.maxpool1(self.conv1(x)))
        x = self.maxpool2(self.lrn2(self.conv3(self.conv2(x))))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux = self.training and self.aux_logits
        aux1 = self.aux1(x) if aux else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if aux else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        x = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        return (x, aux2, aux1) if aux else x


def resnet_stride_in_1x1(arch, **kwargs):
    """torchvision's ResNet with the downsampling stride moved from each first bottleneck's
    3x3 conv to its first 1x1 conv (the original paper's "v1" placement)."""
    model = getattr(torchvision.models, arch)(**kwargs)
    for layer in (model.layer2, model.layer3, model.layer4):
        block = layer[0]
        block.conv1.stride, block.conv2.stride = block.conv2.stride, (1, 1)
    return model


# ----- CIFAR ResNets (He et al. 2015, section 4.2), pre-activation ResNets (He et al. 2016),
# ----- Wide ResNets (Zagoruyko & Komodakis 2016)
class ZeroPadShortcut(nn.Module):
    """Option A: identity, subsampled by ``stride``, with zero channels appended."""

    def __init__(self, pad_channels, stride=2):
        super().__init__()
        self.pad_channels, self.stride = pad_channels, stride

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.pad_channels))     # (W, H, C) pads: C at the end

    def extra_repr(self):
        return f"pad_channels={self.pad_channels}, stride={self.stride}"


class CifarBasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1, residual=True):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.residual = residual
        self.downsample = (ZeroPadShortcut(planes - inplanes, stride)
                           if residual and (stride != 1 or inplanes != planes) else None)

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.residual:
            y = y + (self.downsample(x) if self.downsample is not None else x)
        return F.relu(y)


class CifarResNet(nn.Module):
    """6n+2 layers: conv 16, 2n convs at 16, 32, 64 filters, average pooling, fc."""

    def __init__(self, depth, num_classes=10, residual=True):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        stages, cin = [], 16
        for width, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = [CifarBasicBlock(cin if i == 0 else width, width, stride if i == 0 else 1,
                                      residual) for i in range(n)]
            stages.append(nn.Sequential(*blocks))
            cin = width
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class PreActBasicBlock(nn.Module):
    """BN-ReLU-conv3x3, BN-ReLU-(dropout)-conv3x3, plus the identity or a 1x1 conv of the
    activated input; no bn1 when the input is already activated (after the ImageNet stem)."""

    def __init__(self, inplanes, planes, stride=1, preact=True, dropout=0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes) if preact else None
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        project = stride != 1 or inplanes != planes
        self.downsample = nn.Conv2d(inplanes, planes, 1, stride, bias=False) if project else None

    def forward(self, x):
        a = F.relu(self.bn1(x)) if self.bn1 is not None else x
        y = self.conv1(a)
        y = F.relu(self.bn2(y))
        if self.dropout is not None:
            y = self.dropout(y)
        return self.conv2(y) + (self.downsample(a) if self.downsample is not None else x)


class PreActBottleneck(nn.Module):
    """BN-ReLU-conv1x1, BN-ReLU-conv3x3, BN-ReLU-conv1x1 (x4 channels), plus the shortcut."""

    def __init__(self, inplanes, planes, stride=1, preact=True, stride_in_1x1=False):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes) if preact else None
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(inplanes, planes, 1, stride if stride_in_1x1 else 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1 if stride_in_1x1 else stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, 4 * planes, 1, bias=False)
        project = stride != 1 or inplanes != 4 * planes
        self.downsample = nn.Conv2d(inplanes, 4 * planes, 1, stride, bias=False) if project else None

    def forward(self, x):
        a = F.relu(self.bn1(x)) if self.bn1 is not None else x
        y = self.conv1(a)
        y = self.conv2(F.relu(self.bn2(y)))
        y = self.conv3(F.relu(self.bn3(y)))
        return y + (self.downsample(a) if self.downsample is not None else x)


class PreActResNetCifar(nn.Module):
    """9n+2 layers: conv 16, n bottlenecks to 64, 128, 256 channels, BN-ReLU, pool, fc."""

    def __init__(self, depth, num_classes=10):
        super().__init__()
        n = (depth - 2) // 9
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        stages, cin = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            stages.append(nn.Sequential(*[
                PreActBottleneck(cin if i == 0 else 4 * planes, planes, stride if i == 0 else 1,
                                 stride_in_1x1=True) for i in range(n)]))
            cin = 4 * planes
        self.layer1, self.layer2, self.layer3 = stages
        self.bn = nn.BatchNorm2d(256)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(256, num_classes)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        return self.fc(torch.flatten(self.avgpool(F.relu(self.bn(x))), 1))


class PreActResNet(nn.Module):
    """ImageNet form (fb.resnet.torch preresnet): stem conv-BN-ReLU-maxpool, four stages of
    pre-activation blocks (the first block without its own BN-ReLU), BN-ReLU, pool, fc."""

    def __init__(self, block, layers, num_classes=1000):
        super().__init__()
        expansion = 4 if block is PreActBottleneck else 1
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        stages, cin = [], 64
        for i, (planes, count) in enumerate(zip((64, 128, 256, 512), layers)):
            blocks = [block(cin, planes, 1 if i == 0 else 2, preact=i > 0)]
            blocks += [block(planes * expansion, planes) for _ in range(1, count)]
            stages.append(nn.Sequential(*blocks))
            cin = planes * expansion
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.bn = nn.BatchNorm2d(cin)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(F.relu(self.bn(x))), 1))


class WideResNet(nn.Module):
    """WRN-d-k: conv 16, (d-4)/6 pre-activation basic blocks at 16k, 32k, 64k, BN-ReLU,
    pool, fc."""

    def __init__(self, depth, widen_factor, num_classes=10, dropout=0.0):
        super().__init__()
        n = (depth - 4) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        stages, cin = [], 16
        for width, stride in ((16 * widen_factor, 1), (32 * widen_factor, 2),
                              (64 * widen_factor, 2)):
            stages.append(nn.Sequential(*[
                PreActBasicBlock(cin if i == 0 else width, width, stride if i == 0 else 1,
                                 dropout=dropout) for i in range(n)]))
            cin = width
        self.layer1, self.layer2, self.layer3 = stages
        self.bn = nn.BatchNorm2d(cin)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        return self.fc(torch.flatten(self.avgpool(F.relu(self.bn(x))), 1))


# ----- LeNet-5 (LeCun et al. 1998, usual reconstruction), ZFNet (Zeiler & Fergus 2013),
# ----- Network in Network (Lin et al. 2013, CIFAR-10), stochastic depth (Huang et al. 2016)
class LeNet5(nn.Module):
    """C1 6@5x5, S2 avg 2x2, C3 16@5x5, S4 avg 2x2, C5 120@5x5, F6 84, output; tanh."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2, 2),
            nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2, 2),
            nn.Conv2d(16, 120, 5), nn.Tanh())
        self.classifier = nn.Sequential(nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class ZFNet(nn.Module):
    """Figure 3: 224 -> 110 -> 55 -> 26 -> 13 -> 13 -> 13 -> 6, 96-256-384-384-256 filters."""

    def __init__(self, num_classes=1000):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, 7, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1), paper_alexnet_lrn(),
            nn.Conv2d(96, 256, 5, stride=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1), paper_alexnet_lrn(),
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),
        )
        self.classifier = AlexNet2012(num_classes).classifier

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def mlpconv(cin, c1, c2, c3, k, padding):
    return [nn.Conv2d(cin, c1, k, padding=padding), nn.ReLU(inplace=True),
            nn.Conv2d(c1, c2, 1), nn.ReLU(inplace=True),
            nn.Conv2d(c2, c3, 1), nn.ReLU(inplace=True)]


class NiN(nn.Module):
    """Three mlpconv blocks 192-160-96 (5x5), 192-192-192 (5x5), 192-192-10 (3x3); 3x3/2
    max pooling (Caffe's rounding up) and dropout 0.5 between them; global average pooling."""

    def __init__(self, num_classes=10, dropout=0.5):
        super().__init__()
        self.features = nn.Sequential(
            *mlpconv(3, 192, 160, 96, 5, 2),
            nn.MaxPool2d(3, stride=2, ceil_mode=True), nn.Dropout(dropout),
            *mlpconv(96, 192, 192, 192, 5, 2),
            nn.MaxPool2d(3, stride=2, ceil_mode=True), nn.Dropout(dropout),
            *mlpconv(192, 192, 192, num_classes, 3, 1),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))

    def forward(self, x):
        return torch.flatten(self.avgpool(self.features(x)), 1)


class StochasticDepthBlock(CifarBasicBlock):
    """The CIFAR basic block whose residual branch torchvision's StochasticDepth drops."""

    def __init__(self, inplanes, planes, stride, p):
        super().__init__(inplanes, planes, stride)
        self.stochastic_depth = torchvision.ops.StochasticDepth(p, "row")

    def forward(self, x):
        y = self.stochastic_depth(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))
        return F.relu(y + (self.downsample(x) if self.downsample is not None else x))


class StochasticDepthResNet(CifarResNet):
    """Huang et al.: block l of L dropped with probability l / L * (1 - p_last)."""

    def __init__(self, depth=110, p_last=0.5, num_classes=10):
        super().__init__(depth, num_classes)
        blocks = [(name, b) for name, b in self.named_modules() if isinstance(b, CifarBasicBlock)]
        for l, (name, b) in enumerate(blocks, 1):
            stage, index = name.split(".")
            getattr(self, stage)[int(index)] = StochasticDepthBlock(
                b.conv1.in_channels, b.conv1.out_channels, b.conv1.stride[0],
                l / len(blocks) * (1 - p_last))
