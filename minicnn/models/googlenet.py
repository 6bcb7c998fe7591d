"""GoogLeNet / Inception v1 (Szegedy et al., "Going Deeper with Convolutions", 2014):
torchvision's batch-norm version (``googlenet``) and the paper's (``googlenet_2014``).

The idea: the *inception module* runs 1x1, 3x3 and 5x5 convolutions and a 3x3 max
pool side by side and concatenates their outputs along the channels, so each layer
can mix scales.  1x1 convolutions in front of the 3x3 and 5x5 branches (and after
the pool) shrink the channel count first: these "bottlenecks" are what make a
22-layer network cheaper than AlexNet.  Two auxiliary classifiers (after 4a and 4d)
add extra gradient to the middle of the network during training; they are dropped
at test time.  Global average pooling replaces AlexNet's huge fully-connected layers.
"""
import collections

from .. import functional as F
from .. import nn
from ._weights import load_weights, resolve_weights

GoogLeNetOutputs = collections.namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])

# (in_channels, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj): the paper's Table 1
INCEPTION_CFG = {
    "3a": (192, 64, 96, 128, 16, 32, 32), "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64), "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64), "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128), "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}


def transform_input(x):
    """Turn an input normalised with mean 0.5 / std 0.5 per channel into one normalised
    with ImageNet's mean and std (what the ported Google weights expect)."""
    channels = [x[:, c:c + 1] * (std / 0.5) + (mean - 0.5) / 0.5
                for c, (mean, std) in enumerate([(0.485, 0.229), (0.456, 0.224), (0.406, 0.225)])]
    return F.cat(channels, 1)


# ----- torchvision's GoogLeNet ---------------------------------------------------
class BasicConv2d(nn.Module):
    """conv (no bias: BN's shift replaces it) -> BatchNorm (eps 0.001) -> ReLU."""

    def __init__(self, in_channels, out_channels, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """Four parallel branches concatenated along channels:
    (N, in, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W)."""

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj,
                 conv_block=BasicConv2d, kernel_5x5=3):
        super().__init__()
        self.branch1 = conv_block(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(conv_block(in_channels, ch3x3red, kernel_size=1),
                                     conv_block(ch3x3red, ch3x3, kernel_size=3, padding=1))
        # torchvision's "5x5" branch is really 3x3 (pytorch/vision#906); the paper's is 5x5
        self.branch3 = nn.Sequential(conv_block(in_channels, ch5x5red, kernel_size=1),
                                     conv_block(ch5x5red, ch5x5, kernel_size=kernel_5x5,
                                                padding=kernel_5x5 // 2))
        self.branch4 = nn.Sequential(nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
                                     conv_block(in_channels, pool_proj, kernel_size=1))

    def forward(self, x):
        return F.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: pool to 4x4, 1x1 conv to 128 channels, fc 2048 -> 1024, ReLU,
    dropout 0.7, fc -> classes.  torchvision pools adaptively, so any input size works."""

    def __init__(self, in_channels, num_classes, dropout=0.7, conv_block=BasicConv2d):
        super().__init__()
        self.conv = conv_block(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def pool(self, x):
        return F.adaptive_avg_pool2d(x, (4, 4))

    def forward(self, x):
        x = self.conv(self.pool(x))                 # (N, 128, 4, 4)
        x = F.relu(self.fc1(F.flatten(x, 1)))       # (N, 1024)
        return self.fc2(self.dropout(x))


class GoogLeNet(nn.Module):
    """torchvision's GoogLeNet: every conv is conv + BN + ReLU (``BasicConv2d``), the
    "5x5" branches are 3x3, no LRN, main dropout 0.2, adaptive-pooled aux heads,
    and the last max pool is 2x2.  All max pools round up (``ceil_mode=True``), as
    Caffe did.  Training mode with aux heads returns ``(logits, aux2, aux1)``."""

    conv_block, inception_block, aux_block = BasicConv2d, Inception, InceptionAux

    def __init__(self, num_classes=1000, aux_logits=True, transform_input=False,
                 init_weights=True, dropout=0.2, dropout_aux=0.7):
        super().__init__()
        self.aux_logits, self.transform_input = aux_logits, transform_input
        self._make_stem()
        for name in ("3a", "3b"):
            setattr(self, "inception" + name, self.inception_block(*INCEPTION_CFG[name]))
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        for name in ("4a", "4b", "4c", "4d", "4e"):
            setattr(self, "inception" + name, self.inception_block(*INCEPTION_CFG[name]))
        self.maxpool4 = self._last_maxpool()
        for name in ("5a", "5b"):
            setattr(self, "inception" + name, self.inception_block(*INCEPTION_CFG[name]))
        if aux_logits:
            self.aux1 = self.aux_block(512, num_classes, dropout=dropout_aux)
            self.aux2 = self.aux_block(528, num_classes, dropout=dropout_aux)
        else:
            self.aux1 = self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)
        if init_weights:
            self._init_weights()

    def _make_stem(self):
        self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

    def _last_maxpool(self):
        return nn.MaxPool2d(2, stride=2, ceil_mode=True)

    def _init_weights(self):
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def stem(self, x):
        x = self.maxpool1(self.conv1(x))             # (N, 64, 56, 56) at 224
        x = self.maxpool2(self.conv3(self.conv2(x)))
        return x                                     # (N, 192, 28, 28)

    def forward(self, x):
        if self.transform_input:
            x = transform_input(x)
        x = self.stem(x)
        x = self.maxpool3(self.inception3b(self.inception3a(x)))          # (N, 480, 14, 14)
        x = self.inception4a(x)                                           # (N, 512, 14, 14)
        use_aux = self.training and self.aux_logits
        aux1 = self.aux1(x) if use_aux else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))       # (N, 528, 14, 14)
        aux2 = self.aux2(x) if use_aux else None
        x = self.maxpool4(self.inception4e(x))                            # (N, 832, 7, 7)
        x = self.inception5b(self.inception5a(x))                         # (N, 1024, 7, 7)
        x = F.flatten(self.avgpool(x), 1)                                 # (N, 1024)
        x = self.fc(self.dropout(x))
        return GoogLeNetOutputs(x, aux2, aux1) if use_aux else x


# ----- the paper's GoogLeNet -------------------------------------------------------
class ConvReLU(nn.Module):
    """conv (with bias) -> ReLU: the paper's layers have no batch norm (it came later)."""

    def __init__(self, in_channels, out_channels, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, **kwargs)

    def forward(self, x):
        return F.relu(self.conv(x))


class NaiveInception(nn.Module):
    """The module the paper starts from (its figure 2a), for comparison: 1x1, 3x3 and 5x5
    convolutions and a 3x3 max pool side by side on the same input, concatenated.  Without
    the 1x1 reductions it is expensive, and the pool branch keeps every input channel, so
    stacked modules only grow deeper."""

    def __init__(self, in_channels, ch1x1, ch3x3, ch5x5):
        super().__init__()
        self.branch1 = nn.Conv2d(in_channels, ch1x1, 1)
        self.branch3 = nn.Conv2d(in_channels, ch3x3, 3, padding=1)
        self.branch5 = nn.Conv2d(in_channels, ch5x5, 5, padding=2)
        self.pool = nn.MaxPool2d(3, stride=1, padding=1)

    def forward(self, x):           # -> (N, ch1x1 + ch3x3 + ch5x5 + in_channels, H, W)
        return F.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.pool(x)], 1)


class Inception2014(Inception):
    """The paper's inception module: ConvReLU layers and a true 5x5 branch."""

    def __init__(self, *channels):
        super().__init__(*channels, conv_block=ConvReLU, kernel_5x5=5)


class InceptionAux2014(InceptionAux):
    """The paper's auxiliary classifier: 5x5 average pooling with stride 3 (14x14 -> 4x4
    at 224x224 input), 1x1 conv to 128 + ReLU, fc 1024 + ReLU, dropout 0.7, fc."""

    def __init__(self, in_channels, num_classes, dropout=0.7):
        super().__init__(in_channels, num_classes, dropout, conv_block=ConvReLU)
        self.avgpool = nn.AvgPool2d(5, stride=3, ceil_mode=True)

    def pool(self, x):
        out = self.avgpool(x)
        if out.shape[2:] != (4, 4):
            raise ValueError("minicnn: googlenet_2014: the auxiliary classifiers need a 12x12 "
                             "to 14x14 input (images of 191 to 238 pixels, e.g. 224), got "
                             f"{x.shape}; use eval() or aux_logits=False for other sizes")
        return out


class GoogLeNet2014(GoogLeNet):
    """GoogLeNet as in the paper (and BVLC's Caffe reproduction):

    * conv layers with bias and ReLU, no batch norm;
    * LRN (size 5, alpha 1e-4, beta 0.75, k 1; Caffe's alpha is already divided by
      the size, so these are PyTorch's numbers) after the first max pool and after conv3;
    * true 5x5 convolutions in the inception modules' third branch;
    * 3x3 / stride 2 max pools between the stages; every pool rounds up (Caffe);
    * aux heads after 4a and 4d: 5x5/3 average pooling, 1x1 conv 128, fc 1024,
      dropout 0.7, fc; they need images of 191 to 238 pixels (224 in the paper);
    * dropout 0.4 before the last fc.
    The paper's final "7x7 average pooling" is global average pooling at 224x224;
    ``AdaptiveAvgPool2d((1, 1))`` does the same and also works on smaller images.
    Names follow torchvision's ``GoogLeNet`` (``conv1.conv.weight``, ``inception3a.branch1``,
    ``aux1.fc1``), with ``conv.bias`` where torchvision has ``bn``.
    """

    conv_block, inception_block, aux_block = ConvReLU, Inception2014, InceptionAux2014

    def __init__(self, num_classes=1000, aux_logits=True, init_weights=True, dropout=0.4,
                 dropout_aux=0.7):
        super().__init__(num_classes, aux_logits, False, init_weights, dropout, dropout_aux)

    def _make_stem(self):
        lrn = dict(size=5, alpha=1e-4, beta=0.75, k=1.0)
        self.conv1 = ConvReLU(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.lrn1 = nn.LocalResponseNorm(**lrn)
        self.conv2 = ConvReLU(64, 64, kernel_size=1)
        self.conv3 = ConvReLU(64, 192, kernel_size=3, padding=1)
        self.lrn2 = nn.LocalResponseNorm(**lrn)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

    def _last_maxpool(self):
        return nn.MaxPool2d(3, stride=2, ceil_mode=True)

    def _init_weights(self):
        # BVLC's "xavier" filler: uniform(+-sqrt(3 / fan_in)), i.e. variance 1/fan_in;
        # biases 0.2 (keeps the ReLUs active at the start), 0 for the classifiers
        classifiers = {"fc", "aux1.fc2", "aux2.fc2"}
        for name, m in self.named_modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_uniform_(m.weight, a=1.0)
                nn.init.constant_(m.bias, 0.0 if name in classifiers else 0.2)

    def stem(self, x):
        x = self.lrn1(self.maxpool1(self.conv1(x)))   # (N, 64, 56, 56) at 224
        x = self.lrn2(self.conv3(self.conv2(x)))
        return self.maxpool2(x)                       # (N, 192, 28, 28)


def googlenet(weights=None, *, aux_logits=None, transform_input=None, init_weights=None, **kwargs):
    """torchvision's GoogLeNet (``num_classes``, ``aux_logits``, ``transform_input``,
    ``init_weights``, ``dropout``, ``dropout_aux``).

    ``weights``: ``"DEFAULT"`` / ``"IMAGENET1K_V1"`` (torchvision's googlenet-1378be20.pth,
    downloaded once into PyTorch's cache; ``pretrained=True`` is the legacy spelling), a
    .pth path or a state dict.  As in torchvision, giving ``weights`` defaults to ``transform_input=True`` (the
    ported weights expect ImageNet-normalised input) and ``aux_logits=False`` (the
    file's aux heads were never trained; their keys are then ignored).
    """
    weights = resolve_weights("googlenet", weights, kwargs)
    pretrained = weights is not None
    model = GoogLeNet(aux_logits=(not pretrained) if aux_logits is None else aux_logits,
                      transform_input=pretrained if transform_input is None else transform_input,
                      init_weights=(not pretrained) if init_weights is None else init_weights,
                      **kwargs)
    return load_weights(model, weights, () if model.aux_logits else ("aux1.", "aux2."))


def googlenet_2014(weights=None, *, aux_logits=True, init_weights=None, **kwargs):
    """GoogLeNet as in the 2014 paper (see ``GoogLeNet2014``): ``num_classes``,
    ``aux_logits``, ``init_weights``, ``dropout`` (0.4), ``dropout_aux`` (0.7);
    ``weights``: a .pth path or state dict."""
    model = GoogLeNet2014(aux_logits=aux_logits,
                          init_weights=weights is None if init_weights is None else init_weights,
                          **kwargs)
    return load_weights(model, weights, () if aux_logits else ("aux1.", "aux2."))
