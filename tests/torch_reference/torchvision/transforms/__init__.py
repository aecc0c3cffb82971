"""Stand-in (see ../../README.md): InterpolationMode, and a placeholder for every other
name, which refuses to be used. Model creation never uses transforms."""

from enum import Enum


class InterpolationMode(Enum):
    NEAREST = "nearest"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)

    class Unavailable:
        def __init__(self, *args, **kwargs):
            raise RuntimeError(f"torchvision.transforms.{name} is not available in the stand-in")

    Unavailable.__name__ = name
    return Unavailable
