"""SqueezeNet (Iandola, Han, Moskewicz, Ashraf, Dally & Keutzer, "SqueezeNet:
AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size", 2016), with
torchvision's module names.

The idea: spend parameters only where they pay.  Each ``Fire`` module first *squeezes*
its input to a few channels with 1x1 convolutions, then *expands* again with 1x1 and
3x3 convolutions side by side, whose outputs are concatenated (1x1 first).  Most
filters are 1x1 (9 times cheaper than 3x3), and the 3x3 filters see only the few
squeezed channels.  There is no fully-connected layer: a last 1x1 conv gives one
channel per class, averaged over the image.  AlexNet's accuracy with 1.2M parameters
instead of 61M.  Version 1.1 starts with a 3x3 conv (64 channels) instead of 7x7 (96)
and pools earlier: 2.4 times less computation at the same accuracy.
"""
from .. import functional as F
from .. import nn
from ._weights import load_weights, resolve_weights


class Fire(nn.Module):
    """squeeze (1x1 conv, ReLU), then cat([expand1x1 (1x1 conv, ReLU),
    expand3x3 (3x3 conv, padding 1, ReLU)]) along channels:
    ``expand1x1_planes + expand3x3_planes`` channels out, same height and width."""

    def __init__(self, inplanes, squeeze_planes, expand1x1_planes, expand3x3_planes):
        super().__init__()
        self.inplanes = inplanes
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return F.cat([self.expand1x1_activation(self.expand1x1(x)),
                      self.expand3x3_activation(self.expand3x3(x))], 1)


# (conv kernel, conv channels, then the Fire modules (in, squeeze, expand1x1, expand3x3)
# and "M" for a 3x3/2 max pool with ceil_mode, as torchvision's features indices)
_FIRES = {
    "1_0": (7, 96, ["M", (96, 16, 64, 64), (128, 16, 64, 64), (128, 32, 128, 128), "M",
                    (256, 32, 128, 128), (256, 48, 192, 192), (384, 48, 192, 192),
                    (384, 64, 256, 256), "M", (512, 64, 256, 256)]),
    "1_1": (3, 64, ["M", (64, 16, 64, 64), (128, 16, 64, 64), "M", (128, 32, 128, 128),
                    (256, 32, 128, 128), "M", (256, 48, 192, 192), (384, 48, 192, 192),
                    (384, 64, 256, 256), (512, 64, 256, 256)]),
}


class SqueezeNet(nn.Module):
    """``features``: a stride-2 conv + ReLU, then Fire modules with three 3x3/2 max pools
    (ceil_mode) between them, ending at 512 channels; ``classifier``: dropout, a 1x1
    conv to ``num_classes`` channels, ReLU, global average pooling.  ``version`` is
    "1_0" or "1_1"."""

    def __init__(self, version="1_0", num_classes=1000, dropout=0.5):
        super().__init__()
        if version not in _FIRES:
            raise ValueError(f"minicnn: unsupported SqueezeNet version {version!r}: "
                             "'1_0' or '1_1' expected")
        self.num_classes = num_classes
        kernel, channels, plan = _FIRES[version]
        layers = [nn.Conv2d(3, channels, kernel_size=kernel, stride=2), nn.ReLU(inplace=True)]
        for item in plan:
            layers.append(nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True) if item == "M"
                          else Fire(*item))
        self.features = nn.Sequential(*layers)
        final_conv = nn.Conv2d(512, num_classes, kernel_size=1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), final_conv, nn.ReLU(inplace=True),
                                        nn.AdaptiveAvgPool2d((1, 1)))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if m is final_conv:      # the class scores start small: N(0, 0.01^2)
                    nn.init.normal_(m.weight, mean=0.0, std=0.01)
                else:
                    nn.init.kaiming_uniform_(m.weight)
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.features(x)             # (N, 512, ~H/16, ~W/16)
        x = self.classifier(x)           # (N, num_classes, 1, 1)
        return F.flatten(x, 1)


def squeezenet1_0(weights=None, **kwargs):
    """SqueezeNet 1.0 (the paper's): a 7x7/2 conv to 96 channels, 8 Fire modules;
    1,248,424 parameters for 1000 classes.  Options: ``num_classes``, ``dropout``;
    ``weights``: ``"DEFAULT"`` / ``"IMAGENET1K_V1"`` (torchvision's file, downloaded once;
    ``pretrained=True`` is the legacy spelling), a .pth path or a state dict."""
    weights = resolve_weights("squeezenet1_0", weights, kwargs)
    return load_weights(SqueezeNet("1_0", **kwargs), weights)


def squeezenet1_1(weights=None, **kwargs):
    """SqueezeNet 1.1: a 3x3/2 conv to 64 channels and earlier pooling, 2.4 times less
    computation than 1.0 at the same accuracy; 1,235,496 parameters for 1000 classes."""
    weights = resolve_weights("squeezenet1_1", weights, kwargs)
    return load_weights(SqueezeNet("1_1", **kwargs), weights)
