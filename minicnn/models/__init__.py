"""minicnn.models: the CNNs of the lectures, built only from minicnn layers.

Constructors and state-dict keys follow torchvision, so its checkpoints load
unchanged (``weights=path``); ``alexnet_2012``, ``vgg11_lrn``, ``vgg16_c`` and
``googlenet_2014`` are the paper versions torchvision lacks.  See docs/models.md.
"""
from .alexnet import AlexNet, AlexNet2012, alexnet, alexnet_2012
from .vgg import (VGG, vgg11, vgg11_bn, vgg11_lrn, vgg13, vgg13_bn, vgg16, vgg16_c, vgg16_bn,
                  vgg19, vgg19_bn)
from .googlenet import GoogLeNet, GoogLeNet2014, GoogLeNetOutputs, googlenet, googlenet_2014
from .resnet import ResNet, BasicBlock, Bottleneck, resnet18, resnet34, resnet50, resnet101, resnet152
from .inception import Inception3, InceptionOutputs, inception_v3
from .squeezenet import Fire, SqueezeNet, squeezenet1_0, squeezenet1_1
from .densenet import DenseNet, densenet121, densenet161, densenet169, densenet201
from .small import SmallCNN, small_cnn

__all__ = ["alexnet", "alexnet_2012", "vgg11", "vgg11_bn", "vgg11_lrn", "vgg13", "vgg13_bn",
           "vgg16", "vgg16_c", "vgg16_bn", "vgg19", "vgg19_bn", "googlenet", "googlenet_2014",
           "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "inception_v3",
           "AlexNet", "AlexNet2012", "VGG", "GoogLeNet", "GoogLeNet2014", "GoogLeNetOutputs",
           "ResNet", "BasicBlock", "Bottleneck", "Inception3", "InceptionOutputs",
           "squeezenet1_0", "squeezenet1_1", "SqueezeNet", "Fire",
           "densenet121", "densenet161", "densenet169", "densenet201", "DenseNet",
           "small_cnn", "SmallCNN"]
