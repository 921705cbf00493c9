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


class KeyedHarness:
    """A keyed plugin with a host's part played in plain Python: states
    stored as bytes between calls, timers fired as the watermark passes."""

    def __init__(self, plugin_class, config):
        from .keyed import encode_state

        self.runner = Runner(plugin_class, json.dumps(config))
        self.encode_row = encoder(plugin_class.row)
        self.states = {}
        self.timers = set()
        self._encode_state = encode_state

    def _call(self, key_rows, timers):
        from .codec import decoder
        from .keyed import process_keyed

        keys = sorted({k for k, _ in key_rows} | {k for k, _ in timers})
        index = {k: i for i, k in enumerate(keys)}
        rows = bytearray()
        for _, row in key_rows:
            self.encode_row(row, rows)
        states, lens = bytearray(), []
        for k in keys:
            data = self.states.get(k)
            lens.append(-1 if data is None else len(data))
            states += data or b""
        # Byte offsets into the keys' UTF-8, as the host writes them.
        ends, text = [], ""
        for k in keys:
            text += k
            ends.append(len(text.encode("utf-8")))
        parents, out, changed, new_states, new_lens, new_timers = process_keyed(
            self.runner.plugin, self.runner.decode, self.runner.encode, bytes(rows),
            len(key_rows), [index[k] for k, _ in key_rows], text, ends, bytes(states),
            lens, [(index[k], at) for k, at in timers],
        )
        at = 0
        for i, length in zip(changed, new_lens):
            if length < 0:
                self.states.pop(keys[i], None)
            else:
                self.states[keys[i]] = new_states[at:at + length]
                at += length
        self.timers |= {(keys[k], t) for k, t in new_timers}
        return decoder(self.runner.plugin.out)(out, len(parents))

    def process(self, key, row):
        """The rows the plugin emits for `row` of `key`."""
        return self._call([(key, row)], [])

    def advance(self, watermark):
        """Fires the timers at or before `watermark`, in time order."""
        due = sorted((t for t in self.timers if t[1] <= watermark), key=lambda t: (t[1], t[0]))
        self.timers -= set(due)
        return self._call([], due) if due else []

    def adopt(self, earlier):
        """Takes the states and timers `earlier` (a harness of the version
        this one replaces) holds, migrated as the host migrates them on a
        swap, if the state versions differ."""
        from .keyed import migrate_states

        theirs = earlier.runner.plugin.state_version
        keys = sorted(earlier.states)
        states = [earlier.states[k] for k in keys]
        if theirs != self.runner.plugin.state_version:
            states = migrate_states(self.runner.plugin, theirs, states)
        self.states = dict(zip(keys, states))
        self.timers = set(earlier.timers)

    def state(self, key):
        """The key's state as stored (decoded), or None."""
        from .keyed import decode_state

        data = self.states.get(key)
        return None if data is None else decode_state(data, f"key `{key}`")


def keyed(plugin_class, config):
    return KeyedHarness(plugin_class, config)


def aggregate(plugin_class, config, rows, split_at=None):
    """The result of an aggregate over `rows`, with its accumulators kept as
    bytes between calls as the host keeps them: the rows before `split_at`
    go to one accumulator, the rest to another, and the second is merged
    into the first (as panes merge into a window)."""
    from . import aggregate as agg
    from .codec import decoder

    runner = Runner(plugin_class, json.dumps(config))
    encode = encoder(plugin_class.row)
    data = bytearray()
    for row in rows:
        encode(row, data)
    split_at = len(rows) if split_at is None else split_at
    targets = [0 if i < split_at else 1 for i in range(len(rows))]
    states, lens = agg.add(runner.plugin, runner.decode, b"", [-1, -1], bytes(data), len(rows), targets)
    first, second = agg.split(states, lens)
    merged, merged_lens = agg.merge(runner.plugin, first, [len(first)], second, [len(second)])
    count, out = agg.result(runner.plugin, runner.encode, merged, merged_lens)
    return decoder(plugin_class.out)(out, count)[0]
