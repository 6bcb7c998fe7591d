"""VGG (Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", 2014), as in torchvision, plus the paper's configurations A-LRN and C.

The idea: only 3x3 convolutions (padding 1), stacked.  Two stacked 3x3 layers see a
5x5 window and three see 7x7, with fewer weights (3 * 9C^2 vs 49C^2 for 7x7) and a
ReLU between each.  Max pooling 2x2 halves the size between stages, where the
channel count doubles: 64, 128, 256, 512, 512.  Depth is the only thing that
changes between configurations A (11 layers) to E (19 layers).
"""
from .. import functional as F
from .. import nn
from ._weights import load_weights, resolve_weights

# Numbers are conv3x3 output channels; "M" is 2x2 max pooling; "LRN" local response norm;
# (channels, 1) is a 1x1 convolution ("conv1-256" in the paper's Table 1).
CFGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "A-LRN": [64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [64, 64, "M", 128, 128, "M", 256, 256, (256, 1), "M", 512, 512, (512, 1), "M",
          512, 512, (512, 1), "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


class VGG(nn.Module):
    """``features`` (the conv stack), ``avgpool`` to 7x7, and ``classifier`` (three
    fully-connected layers with dropout); indices fix the state-dict keys
    (``features.0.weight``, ``classifier.6.bias``), as in torchvision."""

    def __init__(self, features, num_classes=1000, init_weights=True, dropout=0.5):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        if init_weights:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):   # He init: keeps the signal's scale through ReLUs
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.features(x)             # (N, 512, H/32, W/32)
        x = self.avgpool(x)              # (N, 512, 7, 7)
        x = F.flatten(x, 1)              # (N, 25088)
        return self.classifier(x)


def make_layers(cfg, batch_norm=False):
    layers, in_channels = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        elif v == "LRN":   # the paper reuses AlexNet's LRN settings
            layers.append(nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0))
        else:
            channels, kernel = v if isinstance(v, tuple) else (v, 3)
            layers.append(nn.Conv2d(in_channels, channels, kernel_size=kernel, padding=kernel // 2))
            if batch_norm:
                layers.append(nn.BatchNorm2d(channels))
            layers.append(nn.ReLU(inplace=True))
            in_channels = channels
    return nn.Sequential(*layers)


def _vgg(name, cfg, batch_norm, weights, kwargs):
    weights = resolve_weights(name, weights, kwargs)
    if weights is not None:
        kwargs.setdefault("init_weights", False)
    return load_weights(VGG(make_layers(CFGS[cfg], batch_norm), **kwargs), weights)


def vgg11(weights=None, **kwargs):
    """VGG-11 (configuration A).  ``num_classes``, ``init_weights``, ``dropout``; ``weights``:
    ``"DEFAULT"`` / ``"IMAGENET1K_V1"`` (torchvision's file, downloaded once), a .pth path or
    a state dict; ``pretrained=True`` as in torchvision (the same for every VGG but the
    paper-only vgg11_lrn and vgg16_c)."""
    return _vgg("vgg11", "A", False, weights, kwargs)


def vgg11_bn(weights=None, **kwargs):
    """VGG-11 with batch norm after every conv (not in the paper; torchvision's)."""
    return _vgg("vgg11_bn", "A", True, weights, kwargs)


def vgg11_lrn(weights=None, **kwargs):
    """The paper's configuration A-LRN: VGG-11 with local response normalisation after the
    first conv layer (after its ReLU, before pooling), with AlexNet's settings
    (k=2, n=5, alpha=1e-4 undivided -> ``alpha=5e-4`` in PyTorch terms, beta=0.75).
    The paper found it did not help.  The LRN shifts later feature indices by one
    (``features.4.weight`` is the second conv), so it does not load plain VGG-11 weights."""
    return _vgg("vgg11_lrn", "A-LRN", False, weights, kwargs)


def vgg13(weights=None, **kwargs):
    """VGG-13 (configuration B)."""
    return _vgg("vgg13", "B", False, weights, kwargs)


def vgg13_bn(weights=None, **kwargs):
    return _vgg("vgg13_bn", "B", True, weights, kwargs)


def vgg16_c(weights=None, **kwargs):
    """The paper's configuration C: VGG-16 whose last conv layer in each of stages 3-5 is
    1x1 (133,638,952 parameters for 1000 classes, "134M" in the paper's Table 2).  The
    1x1 layers add depth and non-linearity without widening the receptive field; the
    paper found C worse than D, whose 3x3 layers there also see more context.  Same
    state-dict keys as ``vgg16``, but the 1x1 weights do not load VGG-16 (D) checkpoints."""
    return _vgg("vgg16_c", "C", False, weights, kwargs)


def vgg16(weights=None, **kwargs):
    """VGG-16 (configuration D)."""
    return _vgg("vgg16", "D", False, weights, kwargs)


def vgg16_bn(weights=None, **kwargs):
    return _vgg("vgg16_bn", "D", True, weights, kwargs)


def vgg19(weights=None, **kwargs):
    """VGG-19 (configuration E)."""
    return _vgg("vgg19", "E", False, weights, kwargs)


def vgg19_bn(weights=None, **kwargs):
    return _vgg("vgg19_bn", "E", True, weights, kwargs)
