// A window aggregate in JavaScript: the spread of a field (its maximum
// minus its minimum) per window and key; plugins/python/temperature_range
// in JavaScript.
//
//   [operators.aggregates]
//   spread = { plugin = "../plugins/dist/temperature_range_js.wasm", field = "temperature" }

const plugin = weir.aggregate({
  name: "temperature-range-js",
  version: "0.1.0",
  // The one field read; the pipeline's `field` says which input field it is.
  row: { value: "f64" },
  out: { spread: "f64" },
  init(config) {
    if (Object.keys(config).length > 0) {
      throw new Error(`temperature-range takes no config, got ${Object.keys(config).join(", ")}`);
    }
  },
  // [min, max], or null before any row.
  create() {
    return null;
  },
  add(acc, row) {
    return acc === null ? [row.value, row.value] : [Math.min(acc[0], row.value), Math.max(acc[1], row.value)];
  },
  merge(acc, other) {
    if (acc === null || other === null) return acc === null ? other : acc;
    return [Math.min(acc[0], other[0]), Math.max(acc[1], other[1])];
  },
  result(acc) {
    return { spread: acc === null ? 0 : acc[1] - acc[0] };
  },
});

export const {
  describe, init, process, processKeyed, migrateState, aggregateAdd, aggregateMerge, aggregateResult,
} = plugin;
