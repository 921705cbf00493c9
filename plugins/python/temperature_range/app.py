"""A window aggregate in Python: the spread of a field (its maximum minus
its minimum) per window and key.

    [operators.aggregates]
    spread = { plugin = "../plugins/dist/temperature_range_py.wasm", field = "temperature" }
"""

from dataclasses import dataclass

from weir_plugin import Aggregate, export


@dataclass
class Value:
    # The one field read; the pipeline's `field` says which input field it is.
    value: float


@dataclass
class Spread:
    spread: float


class TemperatureRange(Aggregate):
    row = Value
    out = Spread

    def __init__(self, config):
        if config:
            raise ValueError(f"temperature-range takes no config, got {', '.join(sorted(config))}")

    def create(self):
        # [min, max], or None before any row.
        return None

    def add(self, acc, row):
        if acc is None:
            return [row.value, row.value]
        return [min(acc[0], row.value), max(acc[1], row.value)]

    def merge(self, acc, other):
        if acc is None or other is None:
            return acc if other is None else other
        return [min(acc[0], other[0]), max(acc[1], other[1])]

    def result(self, acc):
        return Spread(0.0 if acc is None else acc[1] - acc[0])


WitWorld = export(TemperatureRange, name="temperature-range-py", version="0.1.0")
