"""minicnn.models: the CNNs of the lectures, built only from minicnn layers.

Constructors and state-dict keys follow torchvision, so its checkpoints load unchanged
(``weights=path``), and its released weights load by name (``weights="DEFAULT"``,
``"IMAGENET1K_V1"`` or the legacy ``pretrained=True``: the file is downloaded once into
PyTorch's cache; docs/interop.md).  ``alexnet_2012``, ``vgg11_lrn``, ``vgg16_c`` and
``googlenet_2014`` are the paper versions torchvision lacks.  See docs/models.md.
"""
from .alexnet import AlexNet, AlexNet2012, alexnet, alexnet_2012
from .vgg import (VGG, vgg11, vgg11_bn, vgg11_lrn, vgg13, vgg13_bn, vgg16, vgg16_c, vgg16_bn,
                  vgg19, vgg19_bn)
from .googlenet import GoogLeNet, GoogLeNet2014, GoogLeNetOutputs, googlenet, googlenet_2014
from .resnet import ResNet, BasicBlock, Bottleneck, resnet18, resnet34, resnet50, resnet101, resnet152
from .resnet import (resnext50_32x4d, resnext101_32x8d, resnext101_64x4d, wide_resnet50_2,
                     wide_resnet101_2)
from .mobilenet import MobileNetV2, InvertedResidual, mobilenet_v2
from .inception import Inception3, InceptionOutputs, inception_v3
from .squeezenet import Fire, SqueezeNet, squeezenet1_0, squeezenet1_1
from .densenet import DenseNet, densenet121, densenet161, densenet169, densenet201
from .small import SmallCNN, small_cnn
# torchvision's released weights by name (docs/interop.md); not in __all__, whose lowercase
# names the command line takes for models
from ._weights import Weights, get_model_weights, get_weight, imagenet_categories  # noqa: F401

__all__ = ["alexnet", "alexnet_2012", "vgg11", "vgg11_bn", "vgg11_lrn", "vgg13", "vgg13_bn",
           "vgg16", "vgg16_c", "vgg16_bn", "vgg19", "vgg19_bn", "googlenet", "googlenet_2014",
           "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "inception_v3",
           "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2",
           "wide_resnet101_2", "mobilenet_v2", "MobileNetV2", "InvertedResidual",
           "AlexNet", "AlexNet2012", "VGG", "GoogLeNet", "GoogLeNet2014", "GoogLeNetOutputs",
           "ResNet", "BasicBlock", "Bottleneck", "Inception3", "InceptionOutputs",
           "squeezenet1_0", "squeezenet1_1", "SqueezeNet", "Fire",
           "densenet121", "densenet161", "densenet169", "densenet201", "DenseNet",
           "small_cnn", "SmallCNN"]

# CIFAR networks (32x32 inputs, 10 classes by default): docs/models.md.  ``wrn(depth, k)`` and
# ``preact_resnet_cifar(depth)`` take the depth, so they stay out of __all__ (the command
# line lists __all__'s lowercase names as models built from ``(weights, num_classes=)``).
from .cifar_resnet import (CifarResNet, plain20, plain32, plain44, plain56, plain110,  # noqa: E402
                           resnet20, resnet32, resnet44, resnet56, resnet110)
from .preact_resnet import (PreActResNet, PreActResNetCifar, preact_resnet18,  # noqa: E402
                            preact_resnet34, preact_resnet50, preact_resnet164,
                            preact_resnet1001, preact_resnet_cifar)
from .wide_resnet import WideResNet, wrn, wrn16_8, wrn28_10, wrn40_4  # noqa: E402
from .cifar_resnet import StochasticDepthResNet, resnet110_stochastic_depth  # noqa: E402
from .nin import NiN, nin_cifar10  # noqa: E402
from .classic import LeNet5, ZFNet, lenet5, zfnet  # noqa: E402

CIFAR_MODELS = ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "plain20",
                "plain32", "plain44", "plain56", "plain110", "preact_resnet164",
                "preact_resnet1001", "wrn16_8", "wrn28_10", "wrn40_4",
                "resnet110_stochastic_depth", "nin_cifar10")
__all__ += [*CIFAR_MODELS, "preact_resnet18", "preact_resnet34", "preact_resnet50",
            "CifarResNet", "PreActResNet", "PreActResNetCifar", "WideResNet",
            "StochasticDepthResNet", "NiN", "lenet5", "zfnet", "LeNet5", "ZFNet"]
from .fractalnet import FractalNet, fractalnet20, fractalnet40, fractalnet_cifar  # noqa: E402

CIFAR_MODELS += ("fractalnet20", "fractalnet40")
__all__ += ["fractalnet20", "fractalnet40", "FractalNet"]
