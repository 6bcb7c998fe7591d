"""minicnn: a from-scratch deep-learning engine for learning how CNNs work.

    import minicnn as mc
    import minicnn.functional as F
"""
from . import backend
from .autograd import Tensor, Function, tensor, no_grad, is_grad_enabled
from . import functional
from .gradcheck import gradcheck, gradgradcheck, GradcheckError
from . import utils
from . import cuda
from . import nn, models
from . import optim, data, io
from .random import manual_seed
from .summary import summary
from . import train, transfer
from . import viz
from . import onnx      # imports the onnx package only when export/load are called

__version__ = "0.1.0"
__all__ = ["Tensor", "Function", "tensor", "no_grad", "is_grad_enabled",
           "functional", "gradcheck", "gradgradcheck", "GradcheckError", "utils", "backend"]
