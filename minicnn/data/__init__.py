"""minicnn.data: datasets, batching and augmentation.

    from minicnn.data import DataLoader, load_digits, transforms as T
    train = load_digits("train", transform=T.Compose([T.RandomCrop(8, padding=1), T.ToTensor()]))
    loader = DataLoader(train, batch_size=64, shuffle=True, seed=0)
"""
from .dataset import Dataset, TensorDataset, Subset, random_split
from .dataloader import DataLoader, default_collate
from .sampler import DistributedSampler
from . import transforms
from .datasets import (ArrayImageDataset, load_digits, read_idx, MNIST, FashionMNIST, CIFAR10,
                       CIFAR100, ImageFolder, load_image)
from .photos import PHOTOS, load_photo, photo_path

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "DataLoader",
           "default_collate", "DistributedSampler", "transforms", "ArrayImageDataset",
           "load_digits", "read_idx", "MNIST", "FashionMNIST", "CIFAR10", "CIFAR100",
           "ImageFolder", "load_image", "PHOTOS", "load_photo", "photo_path"]
