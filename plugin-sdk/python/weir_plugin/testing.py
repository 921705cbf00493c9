"""Runs a plugin in plain CPython, without Wasm or a host: rows are encoded
and decoded exactly as they cross the component boundary, so a test here
checks the plugin's logic and its row types together.

    from weir_plugin import testing
    kept = testing.run(OverThreshold, {"threshold": 100.0}, [Reading(99.0), Reading(101.0)])
    assert kept == [1]

`run` returns the kept indices for a filter, and (parent, row) pairs for a
map or flat-map.
"""

import json

from .codec import encoder
from .plugin import Runner


def run(plugin_class, config, rows):
    runner = Runner(plugin_class, json.dumps(config))
    encode = encoder(plugin_class.row)
    data = bytearray()
    for row in rows:
        encode(row, data)
    parents, emitted = runner.process(bytes(data), len(rows))
    if plugin_class.kind == "filter":
        return parents
    from .codec import decoder

    return list(zip(parents, decoder(plugin_class.out)(emitted, len(parents))))
