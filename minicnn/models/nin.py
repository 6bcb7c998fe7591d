"""Network in Network: Lin, Chen & Yan, "Network In Network" (2013), the CIFAR-10 model.

Two ideas.  The **mlpconv** layer replaces a conv layer's linear filter by a small
multilayer perceptron slid over the input: a conv followed by two 1x1 convs, each with a
ReLU (a 1x1 conv is the same fully connected layer applied at every position, mixing
channels only).  And **global average pooling** replaces the fully connected
classifier: the last mlpconv block has one map per class, and each map's average is
that class's score -- no parameters to overfit, and each map reads as a confidence map.

The configuration is the common CIFAR-10 one (the authors' Caffe model): three mlpconv
blocks 192-160-96 (5x5 first conv), 192-192-192 (5x5) and 192-192-10 (3x3), "same"
padding; between them 3x3 max pooling with stride 2, rounded up as Caffe does
(32 -> 16 -> 8), and dropout 0.5; then global average pooling over the 10 8x8 maps.
966,986 parameters with 10 classes (the paper gives no count).  The Caffe model's
second pooling is an average; the paper says max pooling, which this follows.
"""
from .. import functional as F
from .. import nn
from ._weights import load_weights


def _mlpconv(in_channels, c1, c2, c3, kernel_size, padding):
    """A conv then two 1x1 convs, each followed by a ReLU (the layers, unwrapped)."""
    return [nn.Conv2d(in_channels, c1, kernel_size=kernel_size, padding=padding),
            nn.ReLU(inplace=True),
            nn.Conv2d(c1, c2, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c2, c3, kernel_size=1),
            nn.ReLU(inplace=True)]


class NiN(nn.Module):
    """Network in Network for CIFAR-10 (32x32 inputs); ``num_classes`` maps in the last
    mlpconv block, averaged into the logits.  ``dropout``: between the blocks.
    ``head_name``: the layer that makes the class maps, the one fine-tuning replaces
    (minicnn.transfer)."""

    head_name = "features.20"       # the last 1x1 conv (192 -> classes), before its ReLU

    def __init__(self, num_classes=10, dropout=0.5):
        super().__init__()
        self.features = nn.Sequential(
            *_mlpconv(3, 192, 160, 96, 5, 2),                       # (N, 96, 32, 32)
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),  # (N, 96, 16, 16)
            nn.Dropout(p=dropout),
            *_mlpconv(96, 192, 192, 192, 5, 2),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),  # (N, 192, 8, 8)
            nn.Dropout(p=dropout),
            *_mlpconv(192, 192, 192, num_classes, 3, 1),            # (N, classes, 8, 8)
        )
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))                 # global average pooling

    def forward(self, x):
        return F.flatten(self.avgpool(self.features(x)), 1)


def nin_cifar10(weights=None, **kwargs):
    """Network in Network for CIFAR-10 (see ``NiN``): ``num_classes`` (default 10),
    ``dropout`` (0.5); ``weights``: a .pth path or state dict."""
    return load_weights(NiN(**kwargs), weights)
