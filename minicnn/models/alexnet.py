"""AlexNet: torchvision's version (``alexnet``) and the 2012 paper's (``alexnet_2012``).

Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional
Neural Networks" (2012).  What it introduced: ReLU instead of tanh (training
several times faster), dropout in the big fully-connected layers, overlapping
max pooling (3x3 windows, stride 2), local response normalisation, and a network
split over two GPUs (visible as ``groups=2`` convolutions: each half of the
channels only sees the half computed on its own GPU).
"""
from .. import functional as F
from .. import nn
from ._weights import load_weights, resolve_weights


def _classifier(num_classes, dropout):
    """The three fully connected layers both AlexNets share: 9216 -> 4096 -> 4096 -> classes,
    with dropout before each of the first two (the paper's cure for their 54M weights)."""
    return nn.Sequential(
        nn.Dropout(p=dropout),
        nn.Linear(256 * 6 * 6, 4096),
        nn.ReLU(inplace=True),
        nn.Dropout(p=dropout),
        nn.Linear(4096, 4096),
        nn.ReLU(inplace=True),
        nn.Linear(4096, num_classes),
    )


class AlexNet(nn.Module):
    """torchvision's AlexNet: the "one weird trick" variant (Krizhevsky 2014).

    Differs from the paper: 64-192-384-256-256 filters, no LRN, no groups, padding 2
    in conv1 (so 224x224 inputs work), and an ``AdaptiveAvgPool2d((6, 6))`` that lets
    any input of at least 63x63 reach the 9216-feature classifier.
    """

    def __init__(self, num_classes=1000, dropout=0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),    # (N, 64, 55, 55) at 224
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),                    # (N, 64, 27, 27)
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),                    # (N, 192, 13, 13)
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),                    # (N, 256, 6, 6)
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = _classifier(num_classes, dropout)

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = F.flatten(x, 1)              # (N, 9216)
        return self.classifier(x)


class AlexNet2012(nn.Module):
    """The network of the 2012 paper, for 227x227 inputs.

    * 96-256-384-384-256 filters; conv1 11x11 stride 4 with no padding (227 -> 55);
    * ReLU after every conv and hidden fully-connected layer;
    * LRN after conv1 and conv2, after the ReLU and before pooling: the paper's
      k=2, n=5, alpha=1e-4, beta=0.75 with alpha *not* divided by n, i.e.
      ``LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)`` in PyTorch's terms;
    * overlapping 3x3 / stride 2 max pooling after conv1, conv2 and conv5;
    * ``groups=2`` in conv2, conv4 and conv5 (the two-GPU split: conv3 and the
      fully-connected layers were the only ones talking across GPUs);
    * fully-connected 9216-4096-4096-num_classes with dropout 0.5 before the first two.

    There is no adaptive pooling: conv5 must end at 6x6, which needs a 227x227 input
    (227 to 230 work).  The layout (``features`` / ``classifier``) follows torchvision's
    ``AlexNet`` so the two print and load alike; LRN shifts the feature indices.
    """

    def __init__(self, num_classes=1000, dropout=0.5, init_weights=True):
        super().__init__()
        lrn = dict(size=5, alpha=5e-4, beta=0.75, k=2.0)
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=11, stride=4),               # (N, 96, 55, 55) at 227
            nn.ReLU(inplace=True),
            nn.LocalResponseNorm(**lrn),
            nn.MaxPool2d(kernel_size=3, stride=2),                    # (N, 96, 27, 27)
            nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=2),
            nn.ReLU(inplace=True),
            nn.LocalResponseNorm(**lrn),
            nn.MaxPool2d(kernel_size=3, stride=2),                    # (N, 256, 13, 13)
            nn.Conv2d(256, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=2),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),                    # (N, 256, 6, 6)
        )
        self.classifier = _classifier(num_classes, dropout)
        if init_weights:
            self._paper_init()

    def _paper_init(self):
        # Section 5: weights N(0, 0.01); biases 1 in conv2, conv4, conv5 and the hidden
        # fully-connected layers (so their ReLUs start with positive inputs), 0 elsewhere.
        ones = {"features.4", "features.10", "features.12", "classifier.1", "classifier.4"}
        for name, m in self.named_modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.constant_(m.bias, 1.0 if name in ones else 0.0)

    def forward(self, x):
        x = self.features(x)
        if x.shape[2:] != (6, 6):
            raise ValueError("minicnn: alexnet_2012 needs 227x227 inputs (its features must end "
                             f"at 256x6x6 for the 9216-input classifier), got features {x.shape}")
        x = F.flatten(x, 1)              # (N, 9216)
        return self.classifier(x)


def alexnet(weights=None, **kwargs):
    """torchvision's AlexNet (``num_classes``, ``dropout``); ``weights``: ``"DEFAULT"`` or
    ``"IMAGENET1K_V1"`` (torchvision's alexnet-owt-7be5be79.pth, downloaded once into
    PyTorch's cache), a .pth path or a state dict; ``pretrained=True`` is the legacy
    spelling of ``weights="IMAGENET1K_V1"`` (docs/interop.md)."""
    weights = resolve_weights("alexnet", weights, kwargs)
    return load_weights(AlexNet(**kwargs), weights)


def alexnet_2012(weights=None, **kwargs):
    """The AlexNet of the 2012 paper (see ``AlexNet2012``); inputs are 227x227."""
    if weights is not None:
        kwargs.setdefault("init_weights", False)
    return load_weights(AlexNet2012(**kwargs), weights)
