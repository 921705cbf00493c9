"""Write weir plugins in Python: a class with `keep(self, row)` (a filter),
`map(self, row)` or `flat_map(self, row)`, or a keyed one with
`process(self, row, ctx)` and `on_timer(self, at, ctx)`, or a window
aggregate with `create`, `add`, `merge` and `result`, rows as dataclasses whose
annotated fields give the fields the plugin reads and emits.

    from dataclasses import dataclass
    from weir_plugin import Filter, export

    @dataclass
    class Reading:
        temperature: float

    class OverThreshold(Filter):
        row = Reading

        def __init__(self, config):
            self.threshold = float(config["threshold"])

        def keep(self, row):
            return row.temperature > self.threshold

    WitWorld = export(OverThreshold, name="over-threshold-py", version="0.1.0")

`componentize-py -d wit -w operator componentize app -o plugin.wasm` makes
the component (scripts/build-python-plugins does it for plugins/python/).
`weir_plugin.testing` runs a plugin in plain CPython, without Wasm.
"""

from .aggregate import Aggregate
from .codec import Timestamp
from .keyed import Keyed
from .plugin import Filter, FlatMap, Map, export

__all__ = ["Filter", "Map", "FlatMap", "Keyed", "Aggregate", "Timestamp", "export"]
