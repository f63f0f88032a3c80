"""Hagane (鋼): forge Japanese language models from raw text."""

__version__ = "0.1.0"
