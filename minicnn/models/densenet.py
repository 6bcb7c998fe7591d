"""DenseNet (Huang, Liu, van der Maaten & Weinberger, "Densely Connected Convolutional
Networks", 2016), the DenseNet-BC variant, with torchvision's module names.

The idea: inside a dense block every layer gets the feature maps of *all* earlier
layers, concatenated along channels, and adds only ``growth_rate`` (k) new channels of
its own.  Features are reused instead of relearned, so the layers can be narrow (k = 32)
and the gradient reaches every layer directly from the block's output.  Each layer is
BN-ReLU-1x1 conv to ``bn_size * k`` channels (the "bottleneck", B), then BN-ReLU-3x3
conv to k.  Between blocks a transition (BN-ReLU-1x1 conv, 2x2 average pool) halves
both the channel count ("compression", C) and the size.  DenseNet-121 reaches
ResNet-50's accuracy with a third of its parameters (8.0M vs 25.6M).
"""
import collections
import re

from .. import functional as F
from .. import nn
from ..utils import checkpoint
from ._weights import load_weights, resolve_weights, state_dict_of, weights_source


class _DenseLayer(nn.Module):
    """norm1-relu1-conv1 (1x1 to ``bn_size * growth_rate`` channels) on the concatenation
    of all earlier features, then norm2-relu2-conv2 (3x3 to ``growth_rate``), then
    dropout if ``drop_rate`` > 0.  Takes a Tensor or a list of Tensors (the features so
    far) and returns only the new ``growth_rate`` channels.  ``memory_efficient``
    recomputes the concatenation and bottleneck in backward instead of keeping them
    (``minicnn.utils.checkpoint``)."""

    def __init__(self, num_input_features, growth_rate, bn_size, drop_rate,
                 memory_efficient=False):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, kernel_size=1,
                               stride=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, stride=1,
                               padding=1, bias=False)
        self.drop_rate = float(drop_rate)
        self.memory_efficient = memory_efficient

    def bn_function(self, inputs):
        concatenated = F.cat(list(inputs), 1)
        return self.conv1(self.relu1(self.norm1(concatenated)))

    def forward(self, input):
        prev_features = list(input) if isinstance(input, (list, tuple)) else [input]
        if self.memory_efficient and any(t.requires_grad for t in prev_features):
            bottleneck = checkpoint(lambda *inputs: self.bn_function(inputs), *prev_features)
        else:
            bottleneck = self.bn_function(prev_features)
        new_features = self.conv2(self.relu2(self.norm2(bottleneck)))
        if self.drop_rate > 0:
            new_features = F.dropout(new_features, p=self.drop_rate, training=self.training)
        return new_features


class _DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers named denselayer1, denselayer2, ...; layer i sees
    ``num_input_features + (i - 1) * growth_rate`` channels.  Returns the input and
    every layer's new features, concatenated:
    ``num_input_features + num_layers * growth_rate`` channels."""

    def __init__(self, num_layers, num_input_features, bn_size, growth_rate, drop_rate,
                 memory_efficient=False):
        super().__init__()
        for i in range(num_layers):
            layer = _DenseLayer(num_input_features + i * growth_rate, growth_rate=growth_rate,
                                bn_size=bn_size, drop_rate=drop_rate,
                                memory_efficient=memory_efficient)
            self.add_module("denselayer%d" % (i + 1), layer)

    def forward(self, init_features):
        features = [init_features]
        for layer in self.values():
            features.append(layer(features))
        return F.cat(features, 1)


class _Transition(nn.Sequential):
    """Between dense blocks: norm, relu, a 1x1 conv to ``num_output_features``, and a
    2x2/2 average pool."""

    def __init__(self, num_input_features, num_output_features):
        super().__init__()
        self.norm = nn.BatchNorm2d(num_input_features)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(num_input_features, num_output_features, kernel_size=1,
                              stride=1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)


class DenseNet(nn.Module):
    """DenseNet-BC: ``features`` (conv0 7x7/2, norm0, relu0, pool0 3x3/2, then
    denseblockN with transitionN between them, and norm5), then ReLU, global average
    pooling and the Linear ``classifier``.

    Args: ``growth_rate`` (k, new channels per layer), ``block_config`` (layers per
    block), ``num_init_features`` (conv0's channels), ``bn_size`` (bottleneck width in
    units of k), ``drop_rate`` (dropout after each dense layer), ``num_classes``,
    ``memory_efficient`` (recompute each layer's concatenation in backward), as
    torchvision's."""

    def __init__(self, growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64,
                 bn_size=4, drop_rate=0, num_classes=1000, memory_efficient=False):
        super().__init__()
        self.features = nn.Sequential(collections.OrderedDict([
            ("conv0", nn.Conv2d(3, num_init_features, kernel_size=7, stride=2, padding=3,
                                bias=False)),
            ("norm0", nn.BatchNorm2d(num_init_features)),
            ("relu0", nn.ReLU(inplace=True)),
            ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
        ]))
        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            block = _DenseBlock(num_layers=num_layers, num_input_features=num_features,
                                bn_size=bn_size, growth_rate=growth_rate, drop_rate=drop_rate,
                                memory_efficient=memory_efficient)
            self.features.add_module("denseblock%d" % (i + 1), block)
            num_features += num_layers * growth_rate
            if i != len(block_config) - 1:
                self.features.add_module("transition%d" % (i + 1),
                                         _Transition(num_features, num_features // 2))
                num_features //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(num_features))
        self.classifier = nn.Linear(num_features, num_classes)

        for m in self.modules():          # torchvision's ("official init from torch repo")
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        features = self.features(x)               # (N, C, H/32, W/32)
        out = F.relu(features, inplace=True)
        out = F.adaptive_avg_pool2d(out, (1, 1))
        return self.classifier(F.flatten(out, 1))


# The released checkpoints were saved when a dense layer's modules were named "norm.1",
# "conv.2", ...; dots are no longer allowed in module names, and torchvision renames the
# keys when it loads them (its _load_state_dict).  The same pattern:
_OLD_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


def rename_old_densenet_keys(state):
    """A copy of ``state`` (name -> array) with the old dense-layer keys of torchvision's
    released DenseNet checkpoints renamed as the modules are named now:
    ``features.denseblock1.denselayer1.norm.1.weight`` ->
    ``features.denseblock1.denselayer1.norm1.weight`` (the same for conv.1/norm.2/conv.2
    and weight, bias, running_mean, running_var).  Other keys are kept, in order."""
    renamed = collections.OrderedDict()
    for key, value in state.items():
        match = _OLD_KEY.match(key)
        renamed[match.group(1) + match.group(2) if match else key] = value
    return renamed


def _densenet(name, growth_rate, block_config, num_init_features, weights, kwargs):
    weights = resolve_weights(name, weights, kwargs)
    model = DenseNet(growth_rate, block_config, num_init_features, **kwargs)
    if weights is None:
        return model
    return load_weights(model, rename_old_densenet_keys(state_dict_of(weights)),
                        source=weights_source(weights))


def densenet121(weights=None, **kwargs):
    """DenseNet-121: k = 32, blocks of (6, 12, 24, 16) layers, 64 initial features;
    7,978,856 parameters for 1000 classes.  Options: ``num_classes``, ``drop_rate``,
    ``bn_size``, ``memory_efficient``; ``weights``: ``"DEFAULT"`` / ``"IMAGENET1K_V1"``
    (torchvision's file, downloaded once; ``pretrained=True`` is the legacy spelling), a .pth
    path or a state dict (torchvision's released checkpoints load: their old keys are
    renamed).  The same for densenet161/169/201."""
    return _densenet("densenet121", 32, (6, 12, 24, 16), 64, weights, kwargs)


def densenet161(weights=None, **kwargs):
    """DenseNet-161: k = 48, blocks of (6, 12, 36, 24) layers, 96 initial features;
    28,681,000 parameters."""
    return _densenet("densenet161", 48, (6, 12, 36, 24), 96, weights, kwargs)


def densenet169(weights=None, **kwargs):
    """DenseNet-169: k = 32, blocks of (6, 12, 32, 32) layers; 14,149,480 parameters."""
    return _densenet("densenet169", 32, (6, 12, 32, 32), 64, weights, kwargs)


def densenet201(weights=None, **kwargs):
    """DenseNet-201: k = 32, blocks of (6, 12, 48, 32) layers; 20,013,928 parameters."""
    return _densenet("densenet201", 32, (6, 12, 48, 32), 64, weights, kwargs)
