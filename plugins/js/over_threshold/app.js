// Keeps sensor readings whose temperature is strictly above a threshold:
// plugins/over-threshold in JavaScript. scripts/js-plugins builds it (after
// the SDK prelude, plugin-sdk/js/weir-plugin.js) into
// plugins/dist/over_threshold_js.wasm.
//
//   [[operators]]
//   type = "plugin"
//   path = "../plugins/dist/over_threshold_js.wasm"
//   config = { threshold = 100.0 }

const plugin = weir.filter({
  name: "over-threshold-js",
  version: "0.1.0",
  row: { temperature: "f64" },
  init(config) {
    const unknown = Object.keys(config).filter((k) => k !== "threshold");
    if (unknown.length) throw new Error(`unknown config keys: ${unknown.join(", ")}`);
    if (typeof config.threshold !== "number" || !Number.isFinite(config.threshold)) {
      throw new Error(`threshold must be a finite number, got ${JSON.stringify(config.threshold)}`);
    }
    this.threshold = config.threshold;
  },
  keep(row) {
    return row.temperature > this.threshold;
  },
});

export const {
  describe, init, process, processKeyed, migrateState, aggregateAdd, aggregateMerge, aggregateResult,
} = plugin;
