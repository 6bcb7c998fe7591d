"""minicnn.nn: layers and models as objects that own their weights (``torch.nn``'s names).

    import minicnn.nn as nn
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), ...)
"""
from .module import Module, Parameter, RemovableHandle
from .container import Sequential, ModuleList, ModuleDict
from .linear import Linear, Flatten, Identity
from .conv import Conv2d
from .pooling import MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d
from .normalization import BatchNorm1d, BatchNorm2d, LocalResponseNorm
from .sync_batchnorm import SyncBatchNorm
from .activation import ReLU, LeakyReLU, Hardtanh, ReLU6, Tanh
from .dropout import Dropout, StochasticDepth
from . import init, parallel, utils

__all__ = ["Module", "Parameter", "RemovableHandle", "Sequential", "ModuleList", "ModuleDict",
           "Linear", "Flatten", "Identity", "Conv2d", "MaxPool2d", "AvgPool2d",
           "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "BatchNorm1d", "BatchNorm2d", "SyncBatchNorm", "LocalResponseNorm",
           "ReLU", "LeakyReLU", "Hardtanh", "ReLU6", "Tanh", "Dropout", "StochasticDepth", "init", "parallel", "utils"]
