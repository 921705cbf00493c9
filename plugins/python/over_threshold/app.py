"""Keeps sensor readings whose temperature is strictly above a threshold:
plugins/over-threshold in Python.

    [[operators]]
    type = "plugin"
    path = "../plugins/dist/over_threshold_py.wasm"
    config = { threshold = 100.0 }
"""

import math
from dataclasses import dataclass

from weir_plugin import Filter, export


@dataclass
class Reading:
    temperature: float


class OverThreshold(Filter):
    row = Reading

    def __init__(self, config):
        threshold = config["threshold"]
        if not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
            raise ValueError(f"threshold must be a finite number, got {threshold!r}")
        unknown = set(config) - {"threshold"}
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        self.threshold = float(threshold)

    def keep(self, row):
        return row.temperature > self.threshold


WitWorld = export(OverThreshold, name="over-threshold-py", version="0.1.0")
