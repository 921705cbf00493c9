"""Window aggregates: an accumulator per window and key, kept by the host.

The host stores each accumulator as bytes between calls — here its JSON
text — and asks the plugin to add rows to some of them, to merge them (the
panes of a sliding window, sessions that join) and to turn them into the
one result field. The result must not depend on the order rows were added
or accumulators merged in."""

from .keyed import decode_state, encode_state, split


class Aggregate:
    """`create()` a new accumulator (any JSON value), `add(acc, row)` and
    `merge(acc, other)` returning the new one, `result(acc)` returning an
    `out` row of one field. `row`: the dataclass read (its one field is the
    input field the pipeline names)."""

    kind = "aggregate"
    row = None
    out = None

    def __init__(self, config):
        self.config = config

    def create(self):
        raise NotImplementedError("an Aggregate defines create(self)")

    def add(self, acc, row):
        raise NotImplementedError("an Aggregate defines add(self, acc, row) -> acc")

    def merge(self, acc, other):
        raise NotImplementedError("an Aggregate defines merge(self, acc, other) -> acc")

    def result(self, acc):
        raise NotImplementedError("an Aggregate defines result(self, acc) -> out")


def _accumulators(plugin, states, lens):
    out = []
    for i, data in enumerate(split(states, lens)):
        if data is None:
            out.append(plugin.create())
            continue
        out.append(decode_state(data, f"accumulator {i}"))
    return out


def _pack(accumulators):
    states, lens = bytearray(), []
    for acc in accumulators:
        data = encode_state(acc)
        states += data
        lens.append(len(data))
    return bytes(states), lens


def add(plugin, decode, states, lens, rows, count, row_accumulators):
    """(states, lens) after adding each row to its accumulator."""
    accs = _accumulators(plugin, states, lens)
    if len(row_accumulators) != count:
        raise ValueError(f"{count} rows but {len(row_accumulators)} accumulator indices")
    for row, index in zip(decode(rows, count), row_accumulators):
        if index >= len(accs):
            raise ValueError(f"accumulator index {index} is past the {len(accs)} given")
        accs[index] = plugin.add(accs[index], row)
    return _pack(accs)


def merge(plugin, into_states, into_lens, from_states, from_lens):
    """(states, lens) of each `into` accumulator with its `from` merged in."""
    into = _accumulators(plugin, into_states, into_lens)
    other = _accumulators(plugin, from_states, from_lens)
    if len(into) != len(other):
        raise ValueError(f"{len(into)} accumulators to merge {len(other)} into")
    return _pack([plugin.merge(a, b) for a, b in zip(into, other)])


def result(plugin, encode, states, lens):
    """(count, encoded rows): each accumulator's result."""
    out = bytearray()
    accs = _accumulators(plugin, states, lens)
    for acc in accs:
        encode(plugin.result(acc), out)
    return len(accs), bytes(out)
