"""Thin extractor: list and fetch Polygon/Massive day-aggregate flat files and land them in a warehouse."""

__version__ = "0.1.0"
