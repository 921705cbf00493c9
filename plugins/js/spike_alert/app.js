// Raises an alert for each window whose count exceeds a minimum (the seed's
// `HAVING COUNT(*) > 5` after a window): plugins/spike-alert in JavaScript,
// built into plugins/dist/spike_alert_js.wasm by scripts/js-plugins.
//
//   [[operators]]
//   type = "plugin"
//   path = "../plugins/dist/spike_alert_js.wasm"
//   config = { min_count = 5 }

const plugin = weir.flatMap({
  name: "spike-alert-js",
  version: "0.1.0",
  // window_end is read so that the plugin loads only after a window.
  row: { sensor_id: "string", window_end: "timestamp", count: "i64" },
  out: { alert: "string" },
  init(config) {
    if (!Number.isInteger(config.min_count) || config.min_count < 0) {
      throw new Error(`min_count must be a whole number, zero or more, got ${JSON.stringify(config.min_count)}`);
    }
    this.minCount = config.min_count;
  },
  *flatMap(window) {
    if (window.count > this.minCount) {
      yield { alert: `${window.sensor_id}: ${window.count} readings in one window, more than ${this.minCount}` };
    }
  },
});

export const {
  describe, init, process, processKeyed, migrateState, aggregateAdd, aggregateMerge, aggregateResult,
} = plugin;
