"""Two classic networks of the lectures: LeNet-5 and ZFNet.

LeCun, Bottou, Bengio & Haffner, "Gradient-Based Learning Applied to Document
Recognition" (1998), and Zeiler & Fergus, "Visualizing and Understanding Convolutional
Networks" (2013).
"""
from .. import functional as F
from .. import nn
from ._weights import load_weights


class LeNet5(nn.Module):
    """LeNet-5 as it is usually reconstructed, for 32x32 one-channel inputs.

    C1: 6 maps 5x5 (32 -> 28), S2: 2x2 subsampling (14), C3: 16 maps 5x5 (10), S4: 2x2
    subsampling (5), C5: 120 maps 5x5 (1x1: a conv layer that is fully connected at
    32x32), F6: 84 units, output: ``num_classes`` (10).  tanh after C1, C3, C5 and F6;
    S2 and S4 are 2x2 average pooling.  61,706 parameters.

    Where it departs from the paper:

    * C3 connects every one of its 16 maps to all 6 S2 maps; the paper's Table I
      connects each to a subset of 3, 4 or 6 (to break symmetry and save weights:
      1,516 parameters instead of 2,416);
    * S2 and S4 are plain averages; in the paper each map's 2x2 sum is multiplied by a
      trainable coefficient, a trainable bias added, and the result passed through the
      sigmoid (12 and 32 more parameters);
    * the paper's squashing function is the scaled tanh 1.7159 tanh(2a/3); this is tanh;
    * the output layer is a linear layer (logits for a softmax cross-entropy); the
      paper's has 10 Euclidean RBF units whose fixed +-1 weights encode 7x12 bitmaps of
      the digits, trained with a MAP criterion.
    """

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5),           # C1: (N, 6, 28, 28)
            nn.Tanh(),
            nn.AvgPool2d(kernel_size=2, stride=2),    # S2: (N, 6, 14, 14)
            nn.Conv2d(6, 16, kernel_size=5),          # C3: (N, 16, 10, 10)
            nn.Tanh(),
            nn.AvgPool2d(kernel_size=2, stride=2),    # S4: (N, 16, 5, 5)
            nn.Conv2d(16, 120, kernel_size=5),        # C5: (N, 120, 1, 1)
            nn.Tanh(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(120, 84),                       # F6
            nn.Tanh(),
            nn.Linear(84, num_classes),               # output
        )

    def forward(self, x):
        x = self.features(x)
        if x.shape[1:] != (120, 1, 1):
            raise ValueError("minicnn: lenet5 needs 1x32x32 inputs (C5 must end at 120x1x1), "
                             f"got features {x.shape}")
        return self.classifier(F.flatten(x, 1))


class ZFNet(nn.Module):
    """The network of Zeiler & Fergus (2013), Figure 3, for 224x224 inputs.

    AlexNet (2012) with the changes the paper's visualisations suggested: conv1 7x7
    stride 2 (instead of 11x11 stride 4) and conv2 stride 2, and dense connections (no
    two-GPU ``groups``).  96-256-384-384-256 filters, maps 110 - 55 - 26 - 13 - 13 - 13 - 6:

    * conv1 96@7x7 stride 2, padding 1 (224 -> 110), ReLU, 3x3 max pool stride 2,
      padding 1 (-> 55), contrast normalisation across maps;
    * conv2 256@5x5 stride 2 (-> 26), ReLU, 3x3 max pool stride 2, padding 1 (-> 13),
      contrast normalisation;
    * conv3 384@3x3, conv4 384@3x3, conv5 256@3x3 (padding 1, 13x13), ReLU each, 3x3
      max pool stride 2 (-> 6);
    * fully connected 9216-4096-4096-``num_classes`` with dropout 0.5 before the first two.

    The paper gives the map sizes, not the paddings: these paddings are the ones that
    reproduce them.  The "contrast normalisation" is AlexNet's local response
    normalisation (n=5, k=2, alpha=1e-4, beta=0.75, i.e. PyTorch's
    ``LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2)``), which the paper does not
    spell out.  The paper's renormalisation of conv filters whose RMS exceeds 0.1 is a
    training rule, not part of the model.  62,357,608 parameters with 1000 classes (the
    paper gives no count).  No adaptive pooling: the input must be 224x224 (223 to 226).
    """

    def __init__(self, num_classes=1000, dropout=0.5):
        super().__init__()
        lrn = dict(size=5, alpha=5e-4, beta=0.75, k=2.0)
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=7, stride=2, padding=1),     # (N, 96, 110, 110)
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),         # (N, 96, 55, 55)
            nn.LocalResponseNorm(**lrn),
            nn.Conv2d(96, 256, kernel_size=5, stride=2),              # (N, 256, 26, 26)
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),         # (N, 256, 13, 13)
            nn.LocalResponseNorm(**lrn),
            nn.Conv2d(256, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),                    # (N, 256, 6, 6)
        )
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        x = self.features(x)
        if x.shape[2:] != (6, 6):
            raise ValueError("minicnn: zfnet needs 224x224 inputs (its features must end at "
                             f"256x6x6 for the 9216-input classifier), got features {x.shape}")
        return self.classifier(F.flatten(x, 1))


def lenet5(weights=None, **kwargs):
    """LeNet-5 (see ``LeNet5``): 1x32x32 inputs, ``num_classes`` (default 10)."""
    return load_weights(LeNet5(**kwargs), weights)


def zfnet(weights=None, **kwargs):
    """ZFNet (see ``ZFNet``): 224x224 inputs, ``num_classes`` (default 1000), ``dropout``."""
    return load_weights(ZFNet(**kwargs), weights)
