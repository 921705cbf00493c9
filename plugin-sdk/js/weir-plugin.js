// weir's plugin SDK for JavaScript: a prelude that scripts/js-plugins puts
// before a plugin's app.js, which then exports what `weir.filter(…)`,
// `weir.map(…)` or `weir.flatMap(…)` returns. Rows are plain objects; a
// row type is an object of field name -> "string" | "f64" | "i64" | "bool"
// | "timestamp", in encoding order. docs/abi.md specifies the bytes.
//
//   const plugin = weir.filter({
//     name: "over-threshold-js", version: "0.1.0",
//     row: { temperature: "f64" },
//     init(config) { this.threshold = config.threshold; },
//     keep(row) { return row.temperature > this.threshold; },
//   });
//   export const { describe, init, process, processKeyed, migrateState,
//                  aggregateAdd, aggregateMerge, aggregateResult } = plugin;

const weir = (() => {
  const TYPES = ["string", "f64", "i64", "bool", "timestamp"];
  const utf8 = new TextEncoder();
  const fromUtf8 = new TextDecoder("utf-8", { fatal: true });

  function fieldsOf(rowType, what) {
    if (rowType === null || typeof rowType !== "object") {
      throw new TypeError(`${what}: an object of field name -> type`);
    }
    return Object.entries(rowType).map(([name, type]) => {
      if (!TYPES.includes(type)) {
        throw new TypeError(`${what}.${name}: ${JSON.stringify(type)} is not one of ${TYPES.join(", ")}`);
      }
      return { name, type };
    });
  }

  // i64 and timestamp values: a Number when exact, else a BigInt.
  function toInt(v) {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : v;
  }

  // The decoder is generated for the row type: fields read in a fixed
  // sequence into an object literal of a fixed shape, with no per-field
  // dispatch or computed property names, which the interpreter inside a
  // component (no JIT) pays for on every field of every row.
  function decoder(fields) {
    const read = fields.map(({ type }, j) => {
      switch (type) {
        case "f64":
          return `const f${j} = view.getFloat64(at, true); at += 8;`;
        case "string":
          return `const n${j} = Number(view.getBigUint64(at, true)); at += 8;
            if (at + n${j} > bytes.byteLength) throw new RangeError(\`row \${i}: a string runs past the rows\`);
            const f${j} = fromUtf8.decode(bytes.subarray(at, at + n${j})); at += n${j};`;
        case "bool":
          return `const b${j} = view.getUint8(at); at += 1;
            if (b${j} > 1) throw new RangeError(\`row \${i}: \${b${j}} is not a bool\`);
            const f${j} = b${j} === 1;`;
        default:
          return `const f${j} = toInt(view.getBigInt64(at, true)); at += 8;`;
      }
    });
    const row = fields.map(({ name }, j) => `${JSON.stringify(name)}: f${j}`).join(", ");
    const body = `return (bytes, count) => {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const rows = new Array(count);
      let at = 0;
      for (let i = 0; i < count; i++) {
        ${read.join("\n        ")}
        rows[i] = { ${row} };
      }
      if (at !== bytes.byteLength) throw new RangeError(\`\${bytes.byteLength - at} bytes follow the \${count} rows\`);
      return rows;
    };`;
    return new Function("fromUtf8", "toInt", body)(fromUtf8, toInt);
  }

  class Writer {
    constructor() {
      this.bytes = new Uint8Array(1024);
      this.length = 0;
    }
    reserve(n) {
      if (this.length + n <= this.bytes.length) return;
      const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    view() {
      return new DataView(this.bytes.buffer);
    }
    append(data) {
      this.reserve(data.length);
      this.bytes.set(data, this.length);
      this.length += data.length;
    }
    finish() {
      return this.bytes.slice(0, this.length);
    }
  }

  function encoder(fields) {
    return (row, out) => {
      for (const { name, type } of fields) {
        const value = row[name];
        if (value === undefined || value === null) throw new TypeError(`the emitted row has no \`${name}\``);
        switch (type) {
          case "f64":
            out.reserve(8);
            out.view().setFloat64(out.length, Number(value), true);
            out.length += 8;
            break;
          case "string": {
            const data = utf8.encode(String(value));
            out.reserve(8 + data.length);
            out.view().setBigUint64(out.length, BigInt(data.length), true);
            out.bytes.set(data, out.length + 8);
            out.length += 8 + data.length;
            break;
          }
          case "bool":
            out.reserve(1);
            out.bytes[out.length++] = value ? 1 : 0;
            break;
          default:
            out.reserve(8);
            out.view().setBigInt64(out.length, BigInt(value), true);
            out.length += 8;
        }
      }
    };
  }

  // Errors reach the host as the plugin's verdict: a string.
  function fail(error) {
    throw error instanceof Error ? error.message : String(error);
  }

  // An export whose errors reach the host through `fail`.
  function guarded(call) {
    return (...args) => {
      try {
        return call(...args);
      } catch (e) {
        fail(e);
      }
    };
  }

  function plugin(kind, spec, call) {
    for (const key of ["name", "version", "row"]) {
      if (spec[key] === undefined) throw new TypeError(`a ${kind} plugin needs \`${key}\``);
    }
    const reads = fieldsOf(spec.row, "row");
    const emits = kind === "filter" ? [] : fieldsOf(spec.out, "out");
    const decode = decoder(reads);
    const encode = encoder(emits);
    const self = Object.create(spec);
    const notThis = (what) => () => fail(`${spec.name} is a ${kind} plugin: it has no ${what}`);
    return {
      describe: () => ({
        name: spec.name,
        version: spec.version,
        kind,
        reads,
        emits,
        stateVersion: 0,
        migratesFrom: [],
      }),
      init(config) {
        try {
          if (spec.init) spec.init.call(self, JSON.parse(config || "{}"));
        } catch (e) {
          fail(e);
        }
      },
      process(input) {
        try {
          const parents = [];
          const out = new Writer();
          decode(input.rows, input.count).forEach((row, i) => call(self, row, i, parents, out, encode));
          return { parents, rows: out.finish() };
        } catch (e) {
          fail(e);
        }
      },
      processKeyed: notThis("keys"),
      // For keyed plugins (see `keyed` below): the spec and its instance.
      spec,
      self,
      migrateState: notThis("state"),
      aggregateAdd: notThis("accumulators"),
      aggregateMerge: notThis("accumulators"),
      aggregateResult: notThis("accumulators"),
      // For tests in Node: the codecs.
      codec: { decode, encode, encodeRows: (rows, fields = reads) => {
        const out = new Writer();
        const write = encoder(fields);
        rows.forEach((r) => write(r, out));
        return out.finish();
      }, decodeOut: decoder(emits), Writer },
    };
  }

  return {
    filter: (spec) =>
      plugin("filter", spec, (self, row, i, parents) => {
        if (spec.keep.call(self, row)) parents.push(i);
      }),
    map: (spec) =>
      plugin("map", spec, (self, row, i, parents, out, encode) => {
        encode(spec.map.call(self, row), out);
        parents.push(i);
      }),
    flatMap: (spec) =>
      plugin("flat-map", spec, (self, row, i, parents, out, encode) => {
        for (const emitted of spec.flatMap.call(self, row)) {
          encode(emitted, out);
          parents.push(i);
        }
      }),
    keyed,
    aggregate,
  };

  // A window aggregate: `create()` a new accumulator (any JSON value),
  // `add(acc, row)` and `merge(acc, other)` return the updated one,
  // `result(acc)` the `out` row of one field. The host keeps each
  // accumulator as its JSON text; the result must not depend on the order
  // rows were added or accumulators merged in.
  function aggregate(spec) {
    for (const f of ["create", "add", "merge", "result"]) {
      if (typeof spec[f] !== "function") throw new TypeError(`an aggregate plugin needs \`${f}\``);
    }
    const base = plugin("aggregate", spec, () => fail(`${spec.name} is an aggregate: rows come with accumulators`));
    const { self, codec } = base;
    const unpack = ({ states, lens }) =>
      split(states, lens, "accumulators").map((data, i) => {
        if (data === null) return spec.create.call(self);
        return decodeState(data, `accumulator ${i}`);
      });
    const pack = (accs) => {
      const states = new Writer();
      const lens = accs.map((acc) => {
        const data = utf8.encode(JSON.stringify(acc));
        states.append(data);
        return data.length;
      });
      return { states: states.finish(), lens };
    };
    base.aggregateAdd = guarded((accumulators, input, rowAccumulators) => {
      const accs = unpack(accumulators);
      if (rowAccumulators.length !== input.count) {
        throw new RangeError(`${input.count} rows but ${rowAccumulators.length} accumulator indices`);
      }
      codec.decode(input.rows, input.count).forEach((row, j) => {
        const i = rowAccumulators[j];
        if (i >= accs.length) throw new RangeError(`accumulator index ${i} is past the ${accs.length} given`);
        accs[i] = spec.add.call(self, accs[i], row);
      });
      return pack(accs);
    });
    base.aggregateMerge = guarded((into, from) => {
      const [a, b] = [unpack(into), unpack(from)];
      if (a.length !== b.length) throw new RangeError(`${b.length} accumulators to merge into ${a.length}`);
      return pack(a.map((acc, i) => spec.merge.call(self, acc, b[i])));
    });
    base.aggregateResult = guarded((accumulators) => {
      const out = new Writer();
      const accs = unpack(accumulators);
      accs.forEach((acc) => codec.encode(spec.result.call(self, acc), out));
      return { count: accs.length, rows: out.finish() };
    });
    return base;
  }

  // Byte strings packed back to back, by their lengths: each a view of
  // `data`, or null where the length is -1 (none). `lens` may arrive as a
  // typed array, whose own `map` would coerce the views to numbers.
  function split(data, lens, what) {
    let at = 0;
    return Array.from(lens, (length) => {
      if (length < 0) return null;
      if (at + length > data.length) throw new RangeError(`the ${what} run past their buffer`);
      at += length;
      return data.subarray(at - length, at);
    });
  }

  // A keyed plugin: `process(row, ctx)` for each row of a key and
  // `onTimer(at, ctx)` when a timer it set fires. `ctx` has the `key`, its
  // `state` (any JSON value, or null for none: the host stores it as JSON
  // text and checkpoints it), `emit(row)` and `setTimer(at)`. A new state
  // shape is a new `stateVersion`, with `migrate(fromVersion, state)` for
  // each earlier one listed in `migratesFrom`, so a swap keeps the state.
  function keyed(spec) {
    if (typeof spec.process !== "function") throw new TypeError("a keyed plugin needs `process(row, ctx)`");
    const version = (v, what) => {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new TypeError(`${what}: ${v} is not a version (0 to 2^32 - 1)`);
      return v;
    };
    const stateVersion = version(spec.stateVersion ?? 0, "stateVersion");
    const migratesFrom = Array.from(spec.migratesFrom ?? [], (v) => version(v, "migratesFrom"));
    if (migratesFrom.length > 0 && typeof spec.migrate !== "function") {
      throw new TypeError("a keyed plugin that lists `migratesFrom` needs `migrate(fromVersion, state)`");
    }
    const base = plugin("keyed", spec, () => fail(`${spec.name} is a keyed plugin: rows come with their keys`));
    const describe = base.describe;
    base.describe = () => ({ ...describe(), stateVersion, migratesFrom });
    base.processKeyed = guarded((input) => processKeyed(base, input));
    base.migrateState = guarded((fromVersion, states) => {
      if (!migratesFrom.includes(fromVersion)) {
        throw new RangeError(`state version ${fromVersion} is not one this plugin migrates from (${migratesFrom.join(", ") || "none"})`);
      }
      return Array.from(states, (data, i) => {
        const what = `state ${i} of ${states.length}`;
        const state = spec.migrate.call(base.self, fromVersion, decodeState(data, what));
        if (state === null || state === undefined) throw new Error(`${what}: migrate returned ${state}; a stored key keeps a state`);
        return utf8.encode(JSON.stringify(state));
      });
    });
    return base;
  }

  function decodeState(data, what) {
    try {
      return JSON.parse(fromUtf8.decode(data));
    } catch (e) {
      throw new Error(`${what}: cannot decode the stored state: ${e.message}`);
    }
  }

  // The keyed-output for a keyed-batch (docs/abi.md): keys arrive as one
  // string with UTF-8 byte ends, states as JSON texts back to back.
  function processKeyed(base, input) {
    const { spec, self, codec } = base;
    const keyBytes = utf8.encode(input.keys);
    const names = [];
    let start = 0;
    for (const end of input.keyEnds) {
      if (end < start || end > keyBytes.length) throw new RangeError("the key ends run past the keys");
      names.push(fromUtf8.decode(keyBytes.subarray(start, end)));
      start = end;
    }
    const stored = split(input.states, input.stateLens, "states");
    const count = input.rows.count;
    if (stored.length !== names.length || input.rowKeys.length !== count) {
      throw new RangeError("keys, states and rows do not match");
    }
    const current = stored.map((s, i) => (s === null ? null : decodeState(s, `key \`${names[i]}\``)));
    const parents = [];
    const out = new Writer();
    const timers = [];
    const run = (parent, key, call) => {
      if (key >= names.length) throw new RangeError(`key index ${key} is past the batch's keys`);
      const ctx = {
        key: names[key],
        state: current[key],
        emit(row) {
          codec.encode(row, out);
          parents.push(parent);
        },
        setTimer(when) {
          timers.push({ key, at: BigInt(when) });
        },
      };
      call(ctx);
      current[key] = ctx.state === undefined ? null : ctx.state;
    };
    codec.decode(input.rows.rows, count).forEach((row, i) => run(i, input.rowKeys[i], (ctx) => spec.process.call(self, row, ctx)));
    input.timers.forEach((timer, i) => {
      const when = Number.isSafeInteger(Number(timer.at)) ? Number(timer.at) : timer.at;
      run(count + i, timer.key, (ctx) => spec.onTimer && spec.onTimer.call(self, when, ctx));
    });
    const changed = [];
    const stateLens = [];
    const states = new Writer();
    current.forEach((state, i) => {
      if (state === null) {
        if (stored[i] !== null) {
          changed.push(i);
          stateLens.push(-1);
        }
        return;
      }
      const data = utf8.encode(JSON.stringify(state));
      const before = stored[i];
      if (before !== null && before.length === data.length && before.every((b, j) => b === data[j])) return;
      changed.push(i);
      stateLens.push(data.length);
      states.append(data);
    });
    return { parents, rows: out.finish(), changed, states: states.finish(), stateLens, timers };
  }
})();
