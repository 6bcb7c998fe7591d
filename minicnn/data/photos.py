"""A few small natural photographs shipped with minicnn (224x224 JPEG, public domain or
CC0; minicnn/data/README.md says where each comes from), so the ImageNet models have a
real image to look at offline: feature maps, saliency, CAM/Grad-CAM, occlusion."""
import os

from .datasets import load_image

PHOTOS = {   # name: what it shows (an ImageNet class it resembles)
    "cat": "Chelsea the cat (tabby cat)",
    "coffee": "a cup of coffee on a saucer (espresso, cup)",
    "rocket": "a Falcon 9 rocket lifting off (missile, space shuttle)",
    "astronaut": "the astronaut Eileen Collins (a person: no ImageNet class)",
}


def photo_path(name="cat"):
    """The file of the photo ``name`` (one of ``PHOTOS``)."""
    if name not in PHOTOS:
        raise ValueError(f"minicnn: no photo {name!r}; the photos are {', '.join(PHOTOS)}")
    return os.path.join(os.path.dirname(__file__), f"{name}.jpg")


def load_photo(name="cat"):
    """The photo ``name`` (one of ``PHOTOS``) as an (224, 224, 3) uint8 array, RGB, as
    ``load_image`` reads it (needs Pillow, which matplotlib brings)."""
    return load_image(photo_path(name))
