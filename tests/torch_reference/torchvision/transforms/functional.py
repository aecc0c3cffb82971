"""Stand-in (see ../../README.md)."""

from torchvision.transforms import InterpolationMode  # noqa: F401
