// The JavaScript SDK in Node.js: the row codec against bytes written by
// hand from docs/abi.md, and the example plugins run on encoded rows as the
// host calls them. Run: scripts/js-plugins test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const sdk = readFileSync(join(here, "weir-plugin.js"), "utf8");

// The SDK prelude and a plugin's app.js as one module, as the build makes it.
async function load(name) {
  const app = readFileSync(join(here, "..", "..", "plugins", "js", name, "app.js"), "utf8");
  const source = `${sdk}\n${app}\nexport { plugin as __plugin };`;
  return (await import(`data:text/javascript,${encodeURIComponent(source)}`)).__plugin;
}

async function weir() {
  return (await import(`data:text/javascript,${encodeURIComponent(`${sdk}\nexport { weir };`)}`)).weir;
}

test("a row is its fields in bincode's fixed-width form", async () => {
  const w = await weir();
  const p = w.map({
    name: "t", version: "0", row: { s: "string", f: "f64", i: "i64", b: "bool", t: "timestamp" },
    out: { s: "string" }, map: (r) => r,
  });
  const bytes = p.codec.encodeRows([{ s: "é", f: 1.5, i: -2, b: true, t: 1700000000000 }]);
  const expected = Buffer.concat([
    Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from("é"),
    Buffer.from(new Float64Array([1.5]).buffer),
    Buffer.from(new BigInt64Array([-2n]).buffer),
    Buffer.from([1]),
    Buffer.from(new BigInt64Array([1700000000000n]).buffer),
  ]);
  assert.deepEqual(Buffer.from(bytes), expected);
  assert.deepEqual(p.codec.decode(bytes, 1), [{ s: "é", f: 1.5, i: -2, b: true, t: 1700000000000 }]);
  assert.throws(() => p.codec.decode(new Uint8Array([...bytes, 0]), 1), /bytes follow/);
});

test("the generated decoder refuses bad bytes and takes any field name", async () => {
  const w = await weir();
  const odd = 'a "quoted" name`${x}`';
  const p = w.map({
    name: "t", version: "0", row: { [odd]: "string", ok: "bool", n: "i64" }, out: { s: "string" }, map: (r) => r,
  });
  const good = p.codec.encodeRows([{ [odd]: "é", ok: false, n: 2 ** 60 }]);
  const [row] = p.codec.decode(good, 1);
  assert.deepEqual(row, { [odd]: "é", ok: false, n: 2n ** 60n });
  const badBool = Uint8Array.from(good);
  badBool[10] = 2;
  assert.throws(() => p.codec.decode(badBool, 1), /row 0: 2 is not a bool/);
  const cut = Uint8Array.from(good);
  cut[0] = 200;
  assert.throws(() => p.codec.decode(cut, 1), /row 0: a string runs past the rows/);
});

test("over-threshold keeps readings strictly above", async () => {
  const p = await load("over_threshold");
  p.init(JSON.stringify({ threshold: 100.0 }));
  const rows = p.codec.encodeRows([99.9, 100.0, 100.1, 120.0, -5.0].map((temperature) => ({ temperature })));
  assert.deepEqual(p.process({ count: 5, rows }).parents, [2, 3]);
  assert.throws(() => p.init(JSON.stringify({ threshold: "hot" })), /finite number/);
  assert.throws(() => p.init(JSON.stringify({ threshold: 1, treshold: 2 })), /treshold/);
});

test("spike-alert alerts only above the minimum", async () => {
  const p = await load("spike_alert");
  p.init(JSON.stringify({ min_count: 5 }));
  const windows = [5, 6, 9].map((count) => ({ sensor_id: "s1", window_end: 10000, count }));
  const out = p.process({ count: 3, rows: p.codec.encodeRows(windows) });
  assert.deepEqual(out.parents, [1, 2]);
  assert.deepEqual(p.codec.decodeOut(out.rows, 2), [
    { alert: "s1: 6 readings in one window, more than 5" },
    { alert: "s1: 9 readings in one window, more than 5" },
  ]);
});

// A keyed-batch as the host builds it: keys back to back with UTF-8 byte
// ends, states as JSON texts back to back (-1: none), timers after the rows.
function keyedBatch(p, keys, rows, rowKeys, states, timers = []) {
  const utf8 = new TextEncoder();
  let ends = [], at = 0;
  for (const k of keys) ends.push((at += utf8.encode(k).length));
  const texts = states.map((s) => (s === null ? null : utf8.encode(JSON.stringify(s))));
  const packed = Buffer.concat(texts.filter((t) => t !== null).map((t) => Buffer.from(t)));
  return {
    rows: { count: rows.length, rows: p.codec.encodeRows(rows) },
    rowKeys, keys: keys.join(""), keyEnds: ends,
    states: new Uint8Array(packed), stateLens: texts.map((t) => (t === null ? -1 : t.length)),
    timers: timers.map(([key, at]) => ({ key, at: BigInt(at) })),
  };
}

test("the fraud detector keeps state per key, across non-ASCII keys, and its timers forget", async () => {
  const p = await load("fraud_detector");
  p.init(JSON.stringify({ small_max: 5.0, large_min: 500.0, within_ms: 300000 }));
  assert.equal(p.describe().kind, "keyed");
  const rows = [
    { amount: 2.0, ip: "a", event_time: 1000 },
    { amount: 900.0, ip: "b", event_time: 2000 },
    { amount: 3.0, ip: "c", event_time: 1500 },
  ];
  const out = p.processKeyed(keyedBatch(p, ["zoë", "ünïcode"], rows, [0, 0, 1], [null, { ips: ["c"], small: null }]));
  assert.deepEqual(out.parents, [1]);
  assert.deepEqual(p.codec.decodeOut(out.rows, 1), [
    { small_amount: 2, small_at: 1000, large_amount: 900, new_ip: "b", gap_ms: 1000 },
  ]);
  assert.deepEqual(out.changed, [0, 1]);
  const texts = new TextDecoder().decode(out.states);
  const first = texts.slice(0, out.stateLens[0]);
  assert.deepEqual(JSON.parse(first), { ips: ["a", "b"], small: null });
  assert.deepEqual(out.timers, [{ key: 0, at: 301000n }, { key: 1, at: 301500n }]);

  // The timer of the second key fires: its small purchase is forgotten.
  const state = JSON.parse(texts.slice(out.stateLens[0]));
  const fired = p.processKeyed(keyedBatch(p, ["ünïcode"], [], [], [state], [[0, 301500]]));
  assert.deepEqual(fired.parents, []);
  assert.deepEqual(fired.changed, [0]);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(fired.states)), { ips: ["c"], small: null });

  // An unchanged state is not handed back.
  // The component hands lengths over as a typed array, as here.
  const typed = keyedBatch(p, ["x"], [], [], [{ ips: [], small: null }], [[0, 5]]);
  typed.stateLens = Int32Array.from(typed.stateLens);
  const same = p.processKeyed(typed);
  assert.deepEqual(same.changed, []);
  assert.throws(() => p.process({ count: 1, rows: p.codec.encodeRows([rows[0]]) }), /keyed plugin/);
});

test("a keyed plugin sees each key as the host wrote it, multi-byte ones included", async () => {
  const w = await weir();
  const p = w.keyed({
    name: "echo-key", version: "0", row: { n: "i64" }, out: { key: "string", n: "i64" },
    process(row, ctx) { ctx.emit({ key: ctx.key, n: row.n }); },
  });
  p.init("{}");
  const keys = ["zoë", "東京", "a"];
  const out = p.processKeyed(keyedBatch(p, keys, [{ n: 1 }, { n: 2 }, { n: 3 }], [1, 0, 2], [null, null, null]));
  assert.deepEqual(p.codec.decodeOut(out.rows, 3), [{ key: "東京", n: 1 }, { key: "zoë", n: 2 }, { key: "a", n: 3 }]);
  const bad = keyedBatch(p, keys, [], [], [null, null, null]);
  bad.keyEnds = [4, 100, 101];
  assert.throws(() => p.processKeyed(bad), /key ends run past/);
});

test("an aggregate adds, merges and reports through the host's bytes", async () => {
  const p = await load("temperature_range");
  p.init("{}");
  assert.equal(p.describe().kind, "aggregate");
  const values = [20.5, 31.25, 18.0, 25.0];
  const empty = (n) => ({ states: new Uint8Array(), lens: Array(n).fill(-1) });
  for (let split = 0; split <= values.length; split++) {
    const rows = p.codec.encodeRows(values.map((value) => ({ value })));
    const targets = values.map((_, i) => (i < split ? 0 : 1));
    const two = p.aggregateAdd(empty(2), { count: values.length, rows }, targets);
    const first = { states: two.states.subarray(0, two.lens[0]), lens: [two.lens[0]] };
    const second = { states: two.states.subarray(two.lens[0]), lens: [two.lens[1]] };
    const merged = p.aggregateMerge(first, second);
    const out = p.aggregateResult(merged);
    assert.deepEqual(p.codec.decodeOut(out.rows, out.count), [{ spread: 31.25 - 18.0 }], `split at ${split}`);
  }
  assert.throws(() => p.aggregateAdd(empty(1), { count: 1, rows: p.codec.encodeRows([{ value: 1 }]) }, [3]), /past the 1/);
});

test("a new state version migrates the states the old one stored", async () => {
  const w = await weir();
  const v1 = await load("sustained_heat");
  const config = JSON.stringify({ threshold: 100.0, duration_ms: 5000 });
  v1.init(config);
  const hot = v1.processKeyed(keyedBatch(v1, ["a"], [{ temperature: 101.0, event_time: 1000 }], [0], [null]));
  const stored = [hot.states];
  const counting = {
    ...v1.spec,
    stateVersion: 2,
    migratesFrom: [1],
    process(row, ctx) {
      v1.spec.process.call(this, row, ctx);
      if (ctx.state !== null) ctx.state.readings = (ctx.state.readings ?? 0) + 1;
    },
    migrate: (from, state) => ({ ...state, readings: 0 }),
  };
  const v2 = w.keyed(counting);
  v2.init(config);
  assert.deepEqual([v2.describe().stateVersion, v2.describe().migratesFrom], [2, [1]]);
  const [migrated] = v2.migrateState(1, stored);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(migrated)), { since: 1000, max: 101, alerted: false, readings: 0 });
  const state = JSON.parse(new TextDecoder().decode(migrated));
  const fired = v2.processKeyed(keyedBatch(v2, ["a"], [{ temperature: 103.0, event_time: 2000 }], [0], [state], [[0, 6000]]));
  assert.deepEqual(v2.codec.decodeOut(fired.rows, 1), [{ hot_since: 1000, hot_for_ms: 5000, max_temperature: 103 }]);
  assert.equal(JSON.parse(new TextDecoder().decode(fired.states)).readings, 1);

  assert.throws(() => v1.migrateState(2, [migrated]), /state version 2 is not one this plugin migrates from \(none\)/);
  const forgetful = w.keyed({ ...counting, migrate: () => undefined });
  assert.throws(() => forgetful.migrateState(1, stored), /state 0 of 1: migrate returned undefined/);
  assert.throws(() => w.keyed({ ...counting, migrate: undefined }), /needs `migrate/);
  assert.throws(() => w.keyed({ ...counting, stateVersion: -1 }), /stateVersion: -1 is not a version/);
});

test("sustained heat alerts by timer and by the reading that ends a streak", async () => {
  const p = await load("sustained_heat");
  p.init(JSON.stringify({ threshold: 100.0, duration_ms: 5000 }));
  const r = (temperature, event_time) => ({ temperature, event_time });
  const first = p.processKeyed(keyedBatch(p, ["a", "b"], [r(101, 1000), r(105, 2000), r(101, 1000), r(99, 500), r(102, 7000)], [0, 0, 1, 1, 1], [null, null]));
  assert.deepEqual(p.codec.decodeOut(first.rows, 1), [{ hot_since: 1000, hot_for_ms: 6000, max_temperature: 102 }]);
  assert.deepEqual(first.timers, [{ key: 0, at: 6000n }, { key: 1, at: 6000n }]);
  const [a] = new TextDecoder().decode(first.states).match(/^\{[^}]*\}/);
  const fired = p.processKeyed(keyedBatch(p, ["a"], [], [], [JSON.parse(a)], [[0, 6000]]));
  assert.deepEqual(p.codec.decodeOut(fired.rows, 1), [{ hot_since: 1000, hot_for_ms: 5000, max_temperature: 105 }]);
});
