"""Synthetic exports of the four agencies of one county, with ground truth (`justlink generate`)."""

from connectors.synthetic.generator import generate

__all__ = ["generate"]
