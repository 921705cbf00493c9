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
    """One key's view while one of its rows or timers is processed."""

    __slots__ = ("key", "state", "_emitted", "_timers")

    def __init__(self, key, state):
        self.key = key
        self.state = state
        self._emitted = []
        self._timers = []

    def emit(self, row):
        self._emitted.append(row)

    def set_timer(self, at):
        """Calls on_timer once the watermark reaches `at` (epoch millis)."""
        self._timers.append(int(at))


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
    current = [None if s is None else decode_state(s, f"key `{names[i]}`") for i, s in enumerate(stored)]
    parents, out, new_timers = [], bytearray(), []

    def run(parent, key, call):
        ctx = Context(names[key], current[key])
        call(ctx)
        current[key] = ctx.state
        for row in ctx._emitted:
            encode(row, out)
            parents.append(parent)
        new_timers.extend((key, at) for at in ctx._timers)

    for index, row in enumerate(decode(rows, count)):
        run(index, row_keys[index], lambda ctx, row=row: plugin.process(row, ctx))
    for i, (key, at) in enumerate(timers):
        run(count + i, key, lambda ctx, at=at: plugin.on_timer(Timestamp(at), ctx))
    changed, new_states, new_lens = [], bytearray(), []
    for index, (state, before) in enumerate(zip(current, stored)):
        if state is None:
            if before is not None:
                changed.append(index)
                new_lens.append(-1)
            continue
        data = encode_state(state)
        if data == before:
            continue
        changed.append(index)
        new_states += data
        new_lens.append(len(data))
    return parents, bytes(out), changed, bytes(new_states), new_lens, new_timers
