"""Acquisition functions: which pool images to label next (``select``, ``STRATEGIES``)."""

from mixer_vit.active.acquisition.dispatch import STRATEGIES, check_request, select

__all__ = ["STRATEGIES", "check_request", "select"]
