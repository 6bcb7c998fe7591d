"""mc.viz: look inside a network -- its autograd graph, its filters, feature maps and
receptive fields, and the pictures of the visualisation lecture: what in an image moves a
class score (saliency, CAM, Grad-CAM, occlusion, guided backprop), an image made for a
class, an adversarial example, and the codes a network computes for images.

    dot = mc.viz.graph(loss, params=dict(model.named_parameters()))   # Graphviz DOT text
    mc.viz.render(dot, "graph.svg")                  # needs Graphviz's `dot` program
    mc.viz.filters(model.features[0]).savefig("conv1.png")
    mc.viz.feature_maps(model, image, "features.3").savefig("maps.png")
    mc.viz.receptive_field(model, (1, 8, 8), "features.2", (4, 4)).savefig("rf.png")
    heat = mc.viz.grad_cam(model, image, "layer4")   # numbers; grad_cam_figure draws them

Each picture is a function returning numbers (tested against PyTorch or an analytic case)
and a ``*_figure`` function drawing them: a matplotlib ``Figure`` on the Agg canvas (no
window; pyplot's state is left alone; matplotlib is imported only when drawing, so
``import minicnn`` does not need it).  Every figure's title says which model and weights
it shows -- "untrained (random weights)" when they are random (``weights_origin``) --
and magnitudes come with a colour bar.  docs/viz.md shows each picture.

The modules: graph (autograd graph), maps (filters, feature maps), fields (receptive
fields), attribution (class-score pictures), codes (CNN codes), figures and running
(what the pictures share).
"""
import shutil     # noqa: F401  (tests stand in for Graphviz through viz.shutil.which)

from ..models._weights import mark_weights, weights_origin
from .attribution import (ClassActivationMap, Occlusion, adversarial, adversarial_figure, cam,
                          cam_figure, class_model, class_model_figure, grad_cam, grad_cam_figure,
                          guided_backprop, guided_backprop_figure, guided_relus, occlusion,
                          occlusion_figure, saliency, saliency_figure)
from .codes import (cnn_codes, embedding, embedding_figure, nearest_neighbours,
                    neighbours_figure, pca)
from .fields import ReceptiveField, receptive_field, receptive_field_of
from .figures import describe
from .graph import GraphvizNotFound, graph, render
from .maps import feature_maps, filters

__all__ = ["graph", "render", "GraphvizNotFound", "filters", "feature_maps", "ReceptiveField",
           "receptive_field_of", "receptive_field", "saliency", "saliency_figure", "grad_cam",
           "grad_cam_figure", "cam", "cam_figure", "ClassActivationMap", "guided_backprop",
           "guided_backprop_figure", "guided_relus", "occlusion", "occlusion_figure",
           "Occlusion", "adversarial", "adversarial_figure", "class_model",
           "class_model_figure", "cnn_codes", "nearest_neighbours", "pca", "embedding",
           "neighbours_figure", "embedding_figure", "describe", "weights_origin",
           "mark_weights"]
