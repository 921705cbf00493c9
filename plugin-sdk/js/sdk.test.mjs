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
