"""Minimal stand-in for torchvision (see ../README.md): just enough for timm to import."""

__version__ = "0.0.0+stand-in"
