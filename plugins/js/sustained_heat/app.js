// The seed's "alert when a sensor stays above 100 °F for more than 5
// seconds" in JavaScript (plugins/sustained-heat in Rust, whose alerts it
// gives byte for byte). Keyed by sensor: per sensor, since when it has been
// hot; an event-time timer fires the alert even if the sensor then goes
// quiet. A streak is broken only by a reading at or below the threshold,
// one alert per streak; a cold reading older than the streak's start does
// not break it.
//
//   [[operators]]
//   type = "plugin"
//   path = "../plugins/dist/sustained_heat_js.wasm"
//   key_by = "sensor_id"
//   config = { threshold = 100.0, duration_ms = 5000 }

const plugin = weir.keyed({
  name: "sustained-heat-js",
  version: "0.1.0",
  row: { temperature: "f64", event_time: "timestamp" },
  out: { hot_since: "timestamp", hot_for_ms: "i64", max_temperature: "f64" },
  // The state: { since: millis, max: hottest reading, alerted: bool }.
  stateVersion: 1,
  init(config) {
    const unknown = Object.keys(config).filter((k) => !["threshold", "duration_ms"].includes(k));
    if (unknown.length > 0) throw new Error(`unknown config keys: ${unknown.sort().join(", ")}`);
    this.threshold = Number(config.threshold);
    this.duration = Number(config.duration_ms);
    if (!Number.isSafeInteger(this.duration) || this.duration <= 0) throw new Error("duration_ms must be positive");
    if (!Number.isFinite(this.threshold)) throw new Error("threshold must be a number");
  },
  process(row, ctx) {
    const t = Number(row.event_time);
    const streak = ctx.state;
    if (row.temperature > this.threshold) {
      if (streak === null) {
        ctx.state = { since: t, max: row.temperature, alerted: false };
        ctx.setTimer(t + this.duration);
      } else {
        streak.max = Math.max(streak.max, row.temperature);
        if (t < streak.since && !streak.alerted) {
          // An earlier hot reading arrived late: the streak began then.
          streak.since = t;
          ctx.setTimer(t + this.duration);
        }
      }
      this.alertIfLongEnough(t, ctx);
    } else if (streak !== null && t >= streak.since) {
      // The streak lasted at least until this reading, which ends it.
      this.alertIfLongEnough(t, ctx);
      ctx.state = null;
    }
  },
  onTimer(at, ctx) {
    this.alertIfLongEnough(Number(at), ctx);
  },
  alertIfLongEnough(now, ctx) {
    const streak = ctx.state;
    if (streak === null || streak.alerted || now - streak.since < this.duration) return;
    streak.alerted = true;
    ctx.emit({ hot_since: streak.since, hot_for_ms: now - streak.since, max_temperature: streak.max });
  },
});

export const {
  describe, init, process, processKeyed, migrateState, aggregateAdd, aggregateMerge, aggregateResult,
} = plugin;
