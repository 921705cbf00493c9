// The seed's fraud example in JavaScript (plugins/fraud-detector in Rust,
// plugins/python/fraud_detector in Python): flags a user whose small
// purchase is followed, within a few minutes, by a large one from an
// address that user has never bought from. Keyed by user; a timer forgets
// the small purchase once the window has passed.
//
//   [[operators]]
//   type = "plugin"
//   path = "../plugins/dist/fraud_detector_js.wasm"
//   key_by = "user_id"
//   config = { small_max = 5.0, large_min = 500.0, within_ms = 300000 }

// Addresses remembered per user.
const KNOWN_IPS = 8;

const plugin = weir.keyed({
  name: "fraud-detector-js",
  version: "0.1.0",
  row: { amount: "f64", ip: "string", event_time: "timestamp" },
  out: {
    small_amount: "f64", small_at: "timestamp", large_amount: "f64", new_ip: "string", gap_ms: "i64",
  },
  init(config) {
    const unknown = Object.keys(config).filter((k) => !["small_max", "large_min", "within_ms"].includes(k));
    if (unknown.length > 0) throw new Error(`unknown config keys: ${unknown.sort().join(", ")}`);
    this.smallMax = Number(config.small_max);
    this.largeMin = Number(config.large_min);
    this.within = Number(config.within_ms);
    if (!(this.within > 0) || !(this.smallMax < this.largeMin)) {
      throw new Error("within_ms must be positive and small_max below large_min");
    }
  },
  // State: { ips: recent addresses, most recent last,
  //          small: [amount, time] of the last small purchase, or null }.
  process(row, ctx) {
    const history = ctx.state ?? { ips: [], small: null };
    const t = row.event_time;
    if (row.amount >= this.largeMin && !history.ips.includes(row.ip) && history.small) {
      const [smallAmount, smallAt] = history.small;
      if (t - smallAt >= 0 && t - smallAt <= this.within) {
        ctx.emit({
          small_amount: smallAmount, small_at: smallAt, large_amount: row.amount, new_ip: row.ip, gap_ms: t - smallAt,
        });
        history.small = null;
      }
    }
    if (row.amount <= this.smallMax) {
      history.small = [row.amount, t];
      ctx.setTimer(t + this.within);
    }
    history.ips = [...history.ips.filter((ip) => ip !== row.ip).slice(-(KNOWN_IPS - 1)), row.ip];
    ctx.state = history;
  },
  onTimer(at, ctx) {
    const history = ctx.state;
    if (history && history.small && history.small[1] + this.within <= at) history.small = null;
  },
});

export const {
  describe, init, process, processKeyed, migrateState, aggregateAdd, aggregateMerge, aggregateResult,
} = plugin;
