"""Keyed plugins: state per key and event-time timers, owned by the host.

The host hands in, with each batch, the state each of its keys had and keeps
what the plugin leaves, so a plugin is a function of (state, events) ->
(state, outputs) and the host can checkpoint, restore and move the state. A
Python plugin's state is any JSON value (dicts, lists, strings, numbers,
booleans), stored as its JSON text; `None` is no state."""

import json

from .codec import Timestamp


class Keyed:
    """`process(row, ctx)` for each row of a key, `on_timer(at, ctx)` when a
    timer it set fires. `row`: the dataclass read; `out`: the one emitted."""

    kind = "keyed"
    row = None
    out = None
    # A new state shape is a new `state_version`; the earlier versions
    # `migrate` converts are listed in `migrates_from`, so a swap to this
    # version keeps the state the running one stored.
    state_version = 0
    migrates_from = ()

    def __init__(self, config):
        self.config = config

    def process(self, row, ctx):
        raise NotImplementedError("a Keyed plugin defines process(self, row, ctx)")

    def on_timer(self, at, ctx):
        pass

    def migrate(self, from_version, state):
        """One key's state as stored by `from_version` (one of
        `migrates_from`) -> the same key's state in this version's shape."""
        raise NotImplementedError(f"{type(self).__name__} lists migrates_from but defines no migrate")


class Context:
    """One key's view while its rows and timers are processed: `key`, its
    `state`, `emit(row)` and `set_timer(at)`. One per key and batch."""

    __slots__ = ("key", "state", "_index", "_batch")

    def __init__(self, key, state, index, batch):
        self.key = key
        self.state = state
        self._index = index
        self._batch = batch

    def emit(self, row):
        batch = self._batch
        batch.encode(row, batch.out)
        batch.parents.append(batch.parent)

    def set_timer(self, at):
        """Calls on_timer once the watermark reaches `at` (epoch millis)."""
        self._batch.timers.append((self._index, int(at)))


class _Batch:
    """What a keyed-batch's rows and timers emit and set: rows encoded as
    they are emitted, each with the parent (row or timer) being processed."""

    __slots__ = ("encode", "out", "parents", "parent", "timers")

    def __init__(self, encode):
        self.encode = encode
        self.out = bytearray()
        self.parents = []
        self.parent = 0
        self.timers = []


def encode_state(state):
    return json.dumps(state, separators=(",", ":"), allow_nan=False).encode("utf-8")


def decode_state(data, what):
    try:
        return json.loads(bytes(data).decode("utf-8"))
    except ValueError as e:
        raise ValueError(f"{what}: cannot decode the stored state: {e}") from None


def migrate_states(plugin, from_version, states):
    """Every stored state of an earlier version, in the current shape, in
    order (the host has no key to name: a failure names the position)."""
    if from_version not in plugin.migrates_from:
        listed = ", ".join(map(str, plugin.migrates_from)) or "none"
        raise ValueError(f"state version {from_version} is not one this plugin migrates from ({listed})")
    migrated = []
    for i, data in enumerate(states):
        what = f"state {i} of {len(states)}"
        state = plugin.migrate(from_version, decode_state(data, what))
        if state is None:
            raise ValueError(f"{what}: migrate returned None; a stored key keeps a state")
        migrated.append(encode_state(state))
    return migrated


def split(data, lens):
    """Packed byte strings back to back -> list of bytes or None (-1)."""
    out, at = [], 0
    for length in lens:
        if length < 0:
            out.append(None)
            continue
        if at + length > len(data):
            raise ValueError("the states run past their buffer")
        out.append(bytes(data[at:at + length]))
        at += length
    return out


def process_keyed(plugin, decode, encode, rows, count, row_keys, keys, key_ends, states, state_lens, timers):
    """The keyed-output's fields for one keyed-batch (docs/abi.md)."""
    # The ends are byte offsets into the keys' UTF-8, as the host wrote them.
    key_bytes = keys.encode("utf-8")
    names, start = [], 0
    for end in key_ends:
        if end < start or end > len(key_bytes):
            raise ValueError("the key ends run past the keys")
        names.append(key_bytes[start:end].decode("utf-8"))
        start = end
    stored = split(states, state_lens)
    if len(stored) != len(names) or len(row_keys) != count:
        raise ValueError("keys, states and rows do not match")
    if any(key >= len(names) for key in row_keys) or any(key >= len(names) for key, _ in timers):
        raise ValueError("a key index is past the batch's keys")
    batch = _Batch(encode)
    contexts = [None] * len(names)

    def context(key):
        before = stored[key]
        state = None if before is None else decode_state(before, f"key `{names[key]}`")
        ctx = contexts[key] = Context(names[key], state, key, batch)
        return ctx

    process = plugin.process
    for index, row in enumerate(decode(rows, count)):
        key = row_keys[index]
        batch.parent = index
        process(row, contexts[key] or context(key))
    for i, (key, at) in enumerate(timers):
        batch.parent = count + i
        plugin.on_timer(Timestamp(at), contexts[key] or context(key))
    changed, new_states, new_lens = [], bytearray(), []
    for index, ctx in enumerate(contexts):
        if ctx is None:
            continue
        before = stored[index]
        if ctx.state is None:
            if before is not None:
                changed.append(index)
                new_lens.append(-1)
            continue
        data = encode_state(ctx.state)
        if data == before:
            continue
        changed.append(index)
        new_states += data
        new_lens.append(len(data))
    return batch.parents, bytes(batch.out), changed, bytes(new_states), new_lens, batch.timers
