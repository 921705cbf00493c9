// A filter that misbehaves on purpose, for the sandbox tests: the
// JavaScript counterpart of plugins/hostile. Config picks the misdeed:
//   { raise_above = 100.0 }            throws on readings above it
//   { loop = true }                    never returns
//   { allocate = true }                allocates without end
//   { fetch = "http://127.0.0.1:1/" }  tries to reach the network

const plugin = weir.filter({
  name: "hostile-js",
  version: "0.1.0",
  row: { temperature: "f64" },
  init(config) {
    this.config = config;
  },
  keep(row) {
    const config = this.config;
    if (config.raise_above !== undefined && row.temperature > config.raise_above) {
      throw new Error(`temperature ${row.temperature} is too hot to handle`);
    }
    if (config.loop) {
      for (;;) {}
    }
    if (config.allocate) {
      const hoard = [];
      for (;;) hoard.push(new Float64Array(1 << 17));
    }
    if (config.fetch !== undefined) {
      fetch(config.fetch);
    }
    return true;
  },
});

export const {
  describe, init, process, processKeyed, migrateState, aggregateAdd, aggregateMerge, aggregateResult,
} = plugin;
