"""MobileNet v2 (Sandler, Howard, Zhu, Zhmoginov & Chen, "MobileNetV2: Inverted Residuals
and Linear Bottlenecks", 2018), with torchvision's module names and state-dict keys.

The idea: a 3x3 convolution that mixes channels costs C_in * C_out * 9 multiply-adds per
pixel.  MobileNet splits it into a *depthwise* 3x3 conv (one filter per channel,
``Conv2d(C, C, 3, groups=C)``: C * 9) and a *pointwise* 1x1 conv that mixes channels
(C_in * C_out), about 8-9 times cheaper.  v2's block, the *inverted residual*, turns
ResNet's bottleneck inside out: a 1x1 conv *expands* the narrow input t times (t=6),
the depthwise 3x3 filters that wide tensor, and a 1x1 conv projects it back to a narrow
output with *no* activation after it (a "linear bottleneck": a ReLU on few channels would
destroy information).  The shortcut joins the narrow ends, where the block keeps the
size and channel count.  Activations are ReLU6 (min(max(x, 0), 6)), robust in low
precision.
"""
from .. import functional as F
from .. import nn
from ._weights import load_weights, resolve_weights


def _make_divisible(v, divisor, min_value=None):
    """``v`` rounded to the nearest multiple of ``divisor`` (at least ``min_value``, by
    default ``divisor``), but never more than 10% below ``v``: the channel counts of the
    original TensorFlow MobileNet, which torchvision keeps."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class Conv2dNormActivation(nn.Sequential):
    """Conv2d (no bias, "same" padding (k-1)//2), BatchNorm2d, then the activation
    (``activation_layer``, default ReLU; None for none): torchvision.ops'
    Conv2dNormActivation, so its children are 0, 1, 2 in the state dict."""

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, padding=None,
                 groups=1, activation_layer=nn.ReLU, dilation=1):
        if padding is None:
            padding = (kernel_size - 1) // 2 * dilation
        layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                            dilation=dilation, groups=groups, bias=False),
                  nn.BatchNorm2d(out_channels)]
        if activation_layer is not None:
            layers.append(activation_layer(inplace=True))
        super().__init__(*layers)
        self.out_channels = out_channels


class InvertedResidual(nn.Module):
    """1x1 expansion to inp*expand_ratio channels (left out when expand_ratio == 1), 3x3
    depthwise conv (stride 1 or 2), both with BN + ReLU6; 1x1 linear projection to ``oup``
    channels + BN (no activation).  x + conv(x) where stride is 1 and inp == oup."""

    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride should be 1 or 2 instead of {stride}")
        self.stride = stride
        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers = []
        if expand_ratio != 1:
            layers.append(Conv2dNormActivation(inp, hidden_dim, kernel_size=1,
                                               activation_layer=nn.ReLU6))        # pointwise
        layers += [
            Conv2dNormActivation(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim,
                                 activation_layer=nn.ReLU6),                     # depthwise
            nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False),                     # linear
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x):
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """Stem (3x3/2 conv to 32 channels), 17 inverted residuals in 7 stages (t expansion,
    c channels, n blocks, s stride of the first), a 1x1 conv to 1280 channels, global
    average pooling, then ``classifier`` = Dropout + Linear.  ``width_mult`` scales every
    channel count (rounded by ``_make_divisible`` to multiples of ``round_nearest``)."""

    def __init__(self, num_classes=1000, width_mult=1.0, inverted_residual_setting=None,
                 round_nearest=8, dropout=0.2):
        super().__init__()
        input_channel, last_channel = 32, 1280
        if inverted_residual_setting is None:
            inverted_residual_setting = [
                # t, c, n, s
                [1, 16, 1, 1],
                [6, 24, 2, 2],
                [6, 32, 3, 2],
                [6, 64, 4, 2],
                [6, 96, 3, 1],
                [6, 160, 3, 2],
                [6, 320, 1, 1],
            ]
        if len(inverted_residual_setting) == 0 or len(inverted_residual_setting[0]) != 4:
            raise ValueError("inverted_residual_setting should be non-empty or a 4-element "
                             f"list, got {inverted_residual_setting}")
        input_channel = _make_divisible(input_channel * width_mult, round_nearest)
        self.last_channel = _make_divisible(last_channel * max(1.0, width_mult), round_nearest)
        features = [Conv2dNormActivation(3, input_channel, stride=2, activation_layer=nn.ReLU6)]
        for t, c, n, s in inverted_residual_setting:
            output_channel = _make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                features.append(InvertedResidual(input_channel, output_channel,
                                                 s if i == 0 else 1, expand_ratio=t))
                input_channel = output_channel
        features.append(Conv2dNormActivation(input_channel, self.last_channel, kernel_size=1,
                                             activation_layer=nn.ReLU6))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout),
                                        nn.Linear(self.last_channel, num_classes))

        for m in self.modules():                       # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.features(x)                                   # (N, 1280, H/32, W/32)
        x = F.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1)
        return self.classifier(x)


def mobilenet_v2(weights=None, **kwargs):
    """MobileNet v2 (3,504,872 parameters with 1000 classes).  Options: ``num_classes``,
    ``width_mult``, ``inverted_residual_setting``, ``round_nearest``, ``dropout``;
    ``weights``: ``"DEFAULT"`` (IMAGENET1K_V2) or ``"IMAGENET1K_V1"`` (torchvision's files,
    downloaded once; ``pretrained=True`` means V1), a .pth path or a state dict."""
    weights = resolve_weights("mobilenet_v2", weights, kwargs)
    return load_weights(MobileNetV2(**kwargs), weights)
