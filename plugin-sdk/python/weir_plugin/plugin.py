"""The plugin kinds and what runs them: `Runner` does a batch in plain
Python (the test harness uses it as is); `export` wraps it in the
component's exports."""

import json

from . import aggregate, keyed
from .codec import decoder, encoder, fields_of


class Filter:
    """Keeps the rows for which `keep` is true. `row`: the dataclass read."""

    kind = "filter"
    row = None

    def __init__(self, config):
        self.config = config

    def keep(self, row):
        raise NotImplementedError("a Filter defines keep(self, row) -> bool")


class Map:
    """One `out` row per input row, added to (or replacing fields of) it."""

    kind = "map"
    row = None
    out = None

    def __init__(self, config):
        self.config = config

    def map(self, row):
        raise NotImplementedError("a Map defines map(self, row) -> out")


class FlatMap:
    """Zero or more `out` rows per input row (alerts, splitters)."""

    kind = "flat-map"
    row = None
    out = None

    def __init__(self, config):
        self.config = config

    def flat_map(self, row):
        raise NotImplementedError("a FlatMap defines flat_map(self, row) -> iterable of out")


class Runner:
    """A configured plugin and its codecs: batches in, output out."""

    def __init__(self, plugin_class, config_json):
        if plugin_class.kind not in ("filter", "map", "flat-map", "keyed", "aggregate"):
            raise TypeError(f"{plugin_class.__name__}: unknown kind {plugin_class.kind!r}")
        if plugin_class.row is None:
            raise TypeError(f"{plugin_class.__name__}.row: name the dataclass the plugin reads")
        config = json.loads(config_json) if config_json else {}
        self.kind = plugin_class.kind
        self.decode = decoder(plugin_class.row)
        self.encode = None if self.kind == "filter" else encoder(plugin_class.out)
        self.plugin = plugin_class(config)

    def process_keyed(self, batch):
        """The keyed-output's fields for a keyed-batch (see keyed.py)."""
        return keyed.process_keyed(
            self.plugin, self.decode, self.encode, batch.rows.rows, batch.rows.count,
            batch.row_keys, batch.keys, batch.key_ends, batch.states, batch.state_lens,
            [(t.key, t.at) for t in batch.timers],
        )

    def process(self, rows, count):
        """(parents, encoded rows) for `count` encoded input rows."""
        if self.kind in ("keyed", "aggregate"):
            raise TypeError(f"a {self.kind} plugin is not called with rows alone")
        decoded = self.decode(rows, count)
        if self.kind == "filter":
            keep = self.plugin.keep
            return [index for index, row in enumerate(decoded) if keep(row)], b""
        parents = []
        out = bytearray()
        encode = self.encode
        if self.kind == "map":
            for row in decoded:
                encode(self.plugin.map(row), out)
            return list(range(count)), bytes(out)
        for index, row in enumerate(decoded):
            for emitted in self.plugin.flat_map(row):
                encode(emitted, out)
                parents.append(index)
        return parents, bytes(out)


def descriptor_fields(plugin_class):
    reads = fields_of(plugin_class.row)
    emits = [] if plugin_class.kind == "filter" else fields_of(plugin_class.out)
    return reads, emits


def state_versions(plugin_class):
    """(state_version, migrates_from) as the descriptor's u32s, checked
    when the plugin is built rather than when the host first loads it."""

    def version(v, what):
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 0xFFFFFFFF:
            raise TypeError(f"{plugin_class.__name__}.{what}: {v!r} is not a version (0 to 2**32 - 1)")
        return v

    current = version(getattr(plugin_class, "state_version", 0), "state_version")
    earlier = [version(v, "migrates_from") for v in getattr(plugin_class, "migrates_from", ())]
    if earlier and getattr(plugin_class, "migrate", None) in (None, keyed.Keyed.migrate):
        raise TypeError(f"{plugin_class.__name__} lists migrates_from but defines no migrate(self, from_version, state)")
    return current, earlier


def export(plugin_class, name, version):
    """The component's `WitWorld` class for `plugin_class`."""
    reads, emits = descriptor_fields(plugin_class)
    state_version, migrates_from = state_versions(plugin_class)

    class WitWorld:
        runner = None

        def describe(self):
            from wit_world.imports import types

            field = lambda n, t: types.Field(n, types.FieldType[t.upper()])  # noqa: E731
            kind = types.OperatorKind[plugin_class.kind.replace("-", "_").upper()]
            return types.Descriptor(
                name=name,
                version=version,
                kind=kind,
                reads=[field(n, t) for n, t in reads],
                emits=[field(n, t) for n, t in emits],
                state_version=state_version,
                migrates_from=migrates_from,
            )

        def init(self, config):
            try:
                WitWorld.runner = Runner(plugin_class, config)
            except Exception as e:  # the user's message, for the pipeline's author
                _fail(e)

        def process(self, input):
            from wit_world.imports import types

            if WitWorld.runner is None:
                _fail(RuntimeError("process before init"))
            try:
                parents, rows = WitWorld.runner.process(input.rows, input.count)
            except Exception as e:
                _fail(e)
            return types.Output(parents=parents, rows=rows)

        def process_keyed(self, input):
            from wit_world.imports import types

            if plugin_class.kind != "keyed":
                _fail(TypeError(f"{name} is a {plugin_class.kind} plugin, not keyed"))
            if WitWorld.runner is None:
                _fail(RuntimeError("process before init"))
            try:
                parents, rows, changed, states, lens, timers = WitWorld.runner.process_keyed(input)
            except Exception as e:
                _fail(e)
            return types.KeyedOutput(
                parents=parents,
                rows=rows,
                changed=changed,
                states=states,
                state_lens=lens,
                timers=[types.Timer(key=k, at=at) for k, at in timers],
            )

        def migrate_state(self, from_version, states):
            if plugin_class.kind != "keyed":
                _fail(TypeError(f"{name} is a {plugin_class.kind} plugin: it has no state"))
            if WitWorld.runner is None:
                _fail(RuntimeError("migrate-state before init"))
            try:
                return keyed.migrate_states(WitWorld.runner.plugin, from_version, states)
            except Exception as e:
                _fail(e)

        def aggregate_add(self, accumulators, input, row_accumulators):
            from wit_world.imports import types

            runner = WitWorld._aggregate(name)
            try:
                states, lens = aggregate.add(
                    runner.plugin, runner.decode, accumulators.states, accumulators.lens,
                    input.rows, input.count, row_accumulators,
                )
            except Exception as e:
                _fail(e)
            return types.Accumulators(states=states, lens=lens)

        def aggregate_merge(self, into, from_):
            from wit_world.imports import types

            runner = WitWorld._aggregate(name)
            try:
                states, lens = aggregate.merge(runner.plugin, into.states, into.lens, from_.states, from_.lens)
            except Exception as e:
                _fail(e)
            return types.Accumulators(states=states, lens=lens)

        def aggregate_result(self, accumulators):
            from wit_world.imports import types

            runner = WitWorld._aggregate(name)
            try:
                count, rows = aggregate.result(runner.plugin, runner.encode, accumulators.states, accumulators.lens)
            except Exception as e:
                _fail(e)
            return types.Batch(count=count, rows=rows)

        @staticmethod
        def _aggregate(name):
            if plugin_class.kind != "aggregate":
                _fail(TypeError(f"{name} is a {plugin_class.kind} plugin, not an aggregate"))
            if WitWorld.runner is None:
                _fail(RuntimeError("called before init"))
            return WitWorld.runner

    return WitWorld


def _fail(error):
    from componentize_py_types import Err

    message = str(error) or type(error).__name__
    if not isinstance(error, (ValueError, KeyError, TypeError)):
        message = f"{type(error).__name__}: {message}"
    raise Err(message)
