//! A differential suite: each query's rows from weir against the same query
//! computed here, in plain Rust over the readings, with no weir code on the
//! path. One fixed, seeded stream (disorder within the watermark bound, so
//! no row is late and every window is complete at the end).

use std::collections::BTreeMap;
use std::fs;

use weir_tests::*;

#[derive(Debug, Clone)]
struct Row {
    sensor: String,
    temperature: f64,
    level: i64,
    ok: bool,
    time: i64,
}

/// A value of an output column, compared with a tolerance for doubles.
#[derive(Debug, Clone)]
enum V {
    S(String),
    F(f64),
    I(i64),
    B(bool),
    T(i64),
}

impl PartialEq for V {
    fn eq(&self, other: &V) -> bool {
        match (self, other) {
            (V::S(a), V::S(b)) => a == b,
            (V::F(a), V::F(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
            (V::I(a), V::I(b)) | (V::T(a), V::T(b)) => a == b,
            (V::B(a), V::B(b)) => a == b,
            _ => false,
        }
    }
}

impl V {
    fn key(&self) -> String {
        match self {
            V::F(f) => format!("{f:.6}"),
            other => format!("{other:?}"),
        }
    }
}

const START: i64 = 1_704_067_190_000; // 2023-12-31 23:59:50 UTC

/// 3,000 readings of 5 sensors over about 7 minutes, each up to 2 s out
/// of order (the watermark allows 5 s).
fn readings() -> Vec<Row> {
    let mut state: u64 = 0x5eed;
    let mut next = move |n: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % n
    };
    (0..3_000)
        .map(|i| Row {
            sensor: format!("s{}", next(5)),
            temperature: 90.0 + next(2_500) as f64 / 100.0,
            level: next(26) as i64 - 5,
            ok: next(3) > 0,
            time: START + i * 137 + next(2_000) as i64,
        })
        .collect()
}

fn guide_time(ms: i64) -> String {
    weir::format::timestamp::format(ms)
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_string()
}

fn as_json(rows: &[Row]) -> String {
    rows.iter()
        .map(|r| {
            format!(
                "{{\"sensor\":\"{}\",\"temperature\":{},\"level\":{},\"ok\":{},\"ts\":\"{}\"}}\n",
                r.sensor,
                r.temperature,
                r.level,
                r.ok,
                guide_time(r.time)
            )
        })
        .collect()
}

/// How the results are compared: in order (a row-by-row query), or as a
/// multiset (windows of different keys fire in no promised order).
#[derive(Clone, Copy, PartialEq)]
enum Order {
    Kept,
    Any,
}

struct Case {
    /// The sink table's columns, e.g. `a STRING, b BIGINT`.
    columns: &'static str,
    query: &'static str,
    order: Order,
    model: fn(&[Row]) -> Vec<Vec<V>>,
}

fn run(case: &Case, input: &std::path::Path, dir: &std::path::Path) -> (Vec<Vec<V>>, String) {
    let out = dir.join("out.jsonl");
    let script = format!(
        "CREATE FUNCTION c AS '{}' LANGUAGE WASM;
         CREATE FUNCTION hot AS '{}' LANGUAGE WASM WITH ('threshold' = '104.5');
         CREATE TABLE r (sensor STRING, temperature DOUBLE, level BIGINT, ok BOOLEAN, ts TIMESTAMP(3),
           WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json');
         CREATE TABLE o ({}) WITH ('connector' = 'filesystem', 'path' = '{}');
         INSERT INTO o {}",
        plugin("fahrenheit_to_celsius.wasm"),
        plugin("over_threshold.wasm"),
        input.display(),
        case.columns,
        out.display(),
        case.query
    );
    let file = dir.join("q.sql");
    fs::write(&file, &script).unwrap();
    let run = weir(&["run", file.to_str().unwrap()], b"");
    assert!(run.status.success(), "{script}\n{}", text(&run.stderr));
    let types: Vec<(String, String)> = case
        .columns
        .split(',')
        .map(|c| {
            let mut parts = c.split_whitespace();
            (
                parts.next().unwrap().to_string(),
                parts.next().unwrap().to_uppercase(),
            )
        })
        .collect();
    let rows = json_lines(&fs::read_to_string(&out).unwrap())
        .iter()
        .map(|row| {
            types
                .iter()
                .map(|(name, ty)| {
                    let v = &row[name.as_str()];
                    match ty.as_str() {
                        "STRING" => V::S(v.as_str().unwrap().to_string()),
                        "DOUBLE" => V::F(v.as_f64().unwrap()),
                        "BIGINT" => V::I(v.as_i64().unwrap()),
                        "BOOLEAN" => V::B(v.as_bool().unwrap()),
                        _ => V::T(weir::format::timestamp::parse(v.as_str().unwrap()).unwrap()),
                    }
                })
                .collect()
        })
        .collect();
    (rows, text(&run.stderr))
}

fn sorted(mut rows: Vec<Vec<V>>) -> Vec<Vec<V>> {
    rows.sort_by_key(|r| r.iter().map(V::key).collect::<Vec<_>>());
    rows
}

fn s(text: &str) -> V {
    V::S(text.to_string())
}

fn select(rows: &[Row], keep: impl Fn(&Row) -> bool, out: impl Fn(&Row) -> Vec<V>) -> Vec<Vec<V>> {
    rows.iter().filter(|r| keep(r)).map(out).collect()
}

/// Rows grouped per (key, window start) for windows of `size` every `slide`.
fn windows(
    rows: &[Row],
    size: i64,
    slide: i64,
    key: impl Fn(&Row) -> String,
) -> BTreeMap<(String, i64), Vec<&Row>> {
    let mut groups: BTreeMap<(String, i64), Vec<&Row>> = BTreeMap::new();
    for row in rows {
        let last = row.time.div_euclid(slide) * slide;
        let mut start = last;
        while start > row.time - size {
            groups.entry((key(row), start)).or_default().push(row);
            start -= slide;
        }
    }
    groups
}

/// Per sensor: runs of rows at most `gap` apart; (sensor, start, end, rows).
fn sessions(rows: &[Row], gap: i64) -> Vec<(String, i64, i64, Vec<&Row>)> {
    let mut by_sensor: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
    for row in rows {
        by_sensor.entry(row.sensor.clone()).or_default().push(row);
    }
    let mut out = Vec::new();
    for (sensor, mut rows) in by_sensor {
        rows.sort_by_key(|r| r.time);
        let mut current: Vec<&Row> = Vec::new();
        for row in rows {
            if current
                .last()
                .is_some_and(|last| row.time - last.time > gap)
            {
                let (first, last) = (current[0].time, current[current.len() - 1].time);
                out.push((
                    sensor.clone(),
                    first,
                    last + gap,
                    std::mem::take(&mut current),
                ));
            }
            current.push(row);
        }
        let (first, last) = (current[0].time, current[current.len() - 1].time);
        out.push((sensor.clone(), first, last + gap, current));
    }
    out
}

fn max_t(rows: &[&Row]) -> f64 {
    rows.iter().map(|r| r.temperature).fold(f64::MIN, f64::max)
}

fn min_t(rows: &[&Row]) -> f64 {
    rows.iter().map(|r| r.temperature).fold(f64::MAX, f64::min)
}

fn avg_t(rows: &[&Row]) -> f64 {
    rows.iter().map(|r| r.temperature).sum::<f64>() / rows.len() as f64
}

fn distinct_sensors(rows: &[&Row]) -> i64 {
    rows.iter()
        .map(|r| &r.sensor)
        .collect::<std::collections::BTreeSet<_>>()
        .len() as i64
}

fn by_sensor(r: &Row) -> String {
    r.sensor.clone()
}

fn no_key(_: &Row) -> String {
    String::new()
}

fn cases() -> Vec<Case> {
    use Order::*;
    vec![
        Case { columns: "a STRING, b DOUBLE", query: "SELECT sensor, temperature FROM r WHERE temperature > 100", order: Kept,
            model: |rs| select(rs, |r| r.temperature > 100.0, |r| vec![s(&r.sensor), V::F(r.temperature)]) },
        Case { columns: "a STRING", query: "SELECT sensor FROM r WHERE temperature >= 100 AND ok", order: Kept,
            model: |rs| select(rs, |r| r.temperature >= 100.0 && r.ok, |r| vec![s(&r.sensor)]) },
        Case { columns: "a BIGINT", query: "SELECT level FROM r WHERE NOT ok OR level < 0", order: Kept,
            model: |rs| select(rs, |r| !r.ok || r.level < 0, |r| vec![V::I(r.level)]) },
        Case { columns: "a BIGINT", query: "SELECT level FROM r WHERE level BETWEEN 0 AND 5", order: Kept,
            model: |rs| select(rs, |r| (0..=5).contains(&r.level), |r| vec![V::I(r.level)]) },
        Case { columns: "a BIGINT", query: "SELECT level FROM r WHERE level NOT BETWEEN 0 AND 5", order: Kept,
            model: |rs| select(rs, |r| !(0..=5).contains(&r.level), |r| vec![V::I(r.level)]) },
        Case { columns: "a STRING", query: "SELECT sensor FROM r WHERE sensor IN ('s1', 's3')", order: Kept,
            model: |rs| select(rs, |r| r.sensor == "s1" || r.sensor == "s3", |r| vec![s(&r.sensor)]) },
        Case { columns: "a STRING", query: "SELECT sensor FROM r WHERE sensor NOT IN ('s1')", order: Kept,
            model: |rs| select(rs, |r| r.sensor != "s1", |r| vec![s(&r.sensor)]) },
        Case { columns: "a STRING", query: "SELECT sensor FROM r WHERE sensor LIKE '%2' OR sensor LIKE 's_0'", order: Kept,
            model: |rs| select(rs, |r| r.sensor.ends_with('2'), |r| vec![s(&r.sensor)]) },
        Case { columns: "a BIGINT, b BIGINT", query: "SELECT level * 2 + 1, level % 3 FROM r", order: Kept,
            model: |rs| select(rs, |_| true, |r| vec![V::I(r.level * 2 + 1), V::I(r.level % 3)]) },
        Case { columns: "a DOUBLE", query: "SELECT temperature * 9 / 5 + 32 FROM r", order: Kept,
            model: |rs| select(rs, |_| true, |r| vec![V::F(r.temperature * 9.0 / 5.0 + 32.0)]) },
        Case { columns: "a STRING", query: "SELECT CASE WHEN temperature > 105 THEN 'hot' WHEN temperature > 95 THEN 'warm' ELSE 'cold' END FROM r", order: Kept,
            model: |rs| select(rs, |_| true, |r| vec![s(if r.temperature > 105.0 { "hot" } else if r.temperature > 95.0 { "warm" } else { "cold" })]) },
        Case { columns: "a STRING", query: "SELECT CASE level WHEN 0 THEN 'zero' WHEN 1 THEN 'one' ELSE 'many' END FROM r", order: Kept,
            model: |rs| select(rs, |_| true, |r| vec![s(match r.level { 0 => "zero", 1 => "one", _ => "many" })]) },
        Case { columns: "a BIGINT", query: "SELECT CAST(temperature AS BIGINT) FROM r", order: Kept,
            model: |rs| select(rs, |_| true, |r| vec![V::I(r.temperature.trunc() as i64)]) },
        Case { columns: "a DOUBLE", query: "SELECT CAST(level AS DOUBLE) / 4 FROM r", order: Kept,
            model: |rs| select(rs, |_| true, |r| vec![V::F(r.level as f64 / 4.0)]) },
        Case { columns: "a STRING", query: "SELECT CAST(level AS STRING) || '-' || sensor FROM r", order: Kept,
            model: |rs| select(rs, |_| true, |r| vec![s(&format!("{}-{}", r.level, r.sensor))]) },
        Case { columns: "a STRING, b BIGINT", query: "SELECT UPPER(sensor), CHAR_LENGTH(CONCAT(sensor, 'xyz')) FROM r", order: Kept,
            model: |rs| select(rs, |_| true, |r| vec![s(&r.sensor.to_uppercase()), V::I(r.sensor.len() as i64 + 3)]) },
        Case { columns: "a STRING", query: "SELECT SUBSTRING(sensor FROM 2) FROM r", order: Kept,
            model: |rs| select(rs, |_| true, |r| vec![s(&r.sensor[1..])]) },
        Case { columns: "a BIGINT, b BIGINT", query: "SELECT EXTRACT(SECOND FROM ts), EXTRACT(MILLISECOND FROM ts) FROM r", order: Kept,
            model: |rs| select(rs, |_| true, |r| vec![V::I(r.time.div_euclid(1000) % 60), V::I(r.time % 1000)]) },
        Case { columns: "a TIMESTAMP(3)", query: "SELECT ts + INTERVAL '1' MINUTE FROM r", order: Kept,
            model: |rs| select(rs, |_| true, |r| vec![V::T(r.time + 60_000)]) },
        Case { columns: "a TIMESTAMP(3)", query: "SELECT ts FROM r WHERE ts > TIMESTAMP '2023-12-31 23:59:50' + INTERVAL '200' SECOND", order: Kept,
            model: |rs| select(rs, |r| r.time > START + 200_000, |r| vec![V::T(r.time)]) },
        Case { columns: "a BIGINT, b DOUBLE, c DOUBLE", query: "SELECT ABS(level), FLOOR(temperature), CEIL(temperature) FROM r", order: Kept,
            model: |rs| select(rs, |_| true, |r| vec![V::I(r.level.abs()), V::F(r.temperature.floor()), V::F(r.temperature.ceil())]) },
        Case { columns: "a BIGINT", query: "SELECT 100 / level FROM r", order: Kept,
            model: |rs| select(rs, |r| r.level != 0, |r| vec![V::I(100 / r.level)]) },
        Case { columns: "a BIGINT", query: "SELECT CASE WHEN level = 0 THEN -1 ELSE 100 / level END FROM r", order: Kept,
            model: |rs| select(rs, |_| true, |r| vec![V::I(if r.level == 0 { -1 } else { 100 / r.level })]) },
        Case { columns: "a STRING", query: "SELECT sensor FROM r WHERE sensor IS NOT NULL AND NOT (ok IS FALSE)", order: Kept,
            model: |rs| select(rs, |r| r.ok, |r| vec![s(&r.sensor)]) },
        Case { columns: "a STRING", query: "SELECT DATE_FORMAT(ts, 'HH:mm:ss') FROM r", order: Kept,
            model: |rs| select(rs, |_| true, |r| vec![s(&guide_time(r.time)[11..19])]) },
        Case { columns: "a STRING, b DOUBLE, c BIGINT, d BOOLEAN, e TIMESTAMP(3)", query: "SELECT * FROM r", order: Kept,
            model: |rs| select(rs, |_| true, |r| vec![s(&r.sensor), V::F(r.temperature), V::I(r.level), V::B(r.ok), V::T(r.time)]) },
        Case { columns: "a STRING, b BIGINT", query: "SELECT sensor, level FROM r WHERE ts < TIMESTAMP '2023-12-31 23:59:50' + INTERVAL '200' SECOND AND level > 10", order: Kept,
            model: |rs| select(rs, |r| r.time < START + 200_000 && r.level > 10, |r| vec![s(&r.sensor), V::I(r.level)]) },
        // Windows.
        Case { columns: "a STRING, b BIGINT, c TIMESTAMP(3)", query: "SELECT sensor, COUNT(*), TUMBLE_END(ts, INTERVAL '10' SECOND) FROM r GROUP BY sensor, TUMBLE(ts, INTERVAL '10' SECOND)", order: Any,
            model: |rs| windows(rs, 10_000, 10_000, by_sensor).into_iter().map(|((k, st), g)| vec![s(&k), V::I(g.len() as i64), V::T(st + 10_000)]).collect() },
        Case { columns: "a STRING, b BIGINT, c DOUBLE, d DOUBLE, e DOUBLE", query: "SELECT sensor, SUM(level), MIN(temperature), MAX(temperature), AVG(temperature) FROM r GROUP BY sensor, TUMBLE(ts, INTERVAL '30' SECOND)", order: Any,
            model: |rs| windows(rs, 30_000, 30_000, by_sensor).into_iter().map(|((k, _), g)| vec![s(&k), V::I(g.iter().map(|r| r.level).sum()), V::F(min_t(&g)), V::F(max_t(&g)), V::F(avg_t(&g))]).collect() },
        Case { columns: "a BIGINT, b TIMESTAMP(3)", query: "SELECT COUNT(DISTINCT sensor), TUMBLE_START(ts, INTERVAL '2' SECOND) FROM r GROUP BY TUMBLE(ts, INTERVAL '2' SECOND)", order: Any,
            model: |rs| windows(rs, 2_000, 2_000, no_key).into_iter().map(|((_, st), g)| vec![V::I(distinct_sensors(&g)), V::T(st)]).collect() },
        Case { columns: "a STRING, b BIGINT", query: "SELECT sensor, COUNT(*) FROM r WHERE temperature > 100 GROUP BY sensor, TUMBLE(ts, INTERVAL '10' SECOND) HAVING COUNT(*) > 3", order: Any,
            model: |rs| {
                let hot: Vec<Row> = rs.iter().filter(|r| r.temperature > 100.0).cloned().collect();
                windows(&hot, 10_000, 10_000, by_sensor).into_iter().filter(|(_, g)| g.len() > 3).map(|((k, _), g)| vec![s(&k), V::I(g.len() as i64)]).collect()
            } },
        Case { columns: "a STRING, b DOUBLE", query: "SELECT sensor, AVG(temperature) FROM r GROUP BY sensor, TUMBLE(ts, INTERVAL '20' SECOND) HAVING AVG(temperature) > 103 AND COUNT(*) >= 25", order: Any,
            model: |rs| windows(rs, 20_000, 20_000, by_sensor).into_iter().filter(|(_, g)| avg_t(g) > 103.0 && g.len() >= 25).map(|((k, _), g)| vec![s(&k), V::F(avg_t(&g))]).collect() },
        Case { columns: "a STRING, b BIGINT, c TIMESTAMP(3), d TIMESTAMP(3)", query: "SELECT sensor, COUNT(*), HOP_START(ts, INTERVAL '5' SECOND, INTERVAL '20' SECOND), HOP_END(ts, INTERVAL '5' SECOND, INTERVAL '20' SECOND) FROM r GROUP BY sensor, HOP(ts, INTERVAL '5' SECOND, INTERVAL '20' SECOND)", order: Any,
            model: |rs| windows(rs, 20_000, 5_000, by_sensor).into_iter().map(|((k, st), g)| vec![s(&k), V::I(g.len() as i64), V::T(st), V::T(st + 20_000)]).collect() },
        Case { columns: "a STRING, b BIGINT, c TIMESTAMP(3), d TIMESTAMP(3)", query: "SELECT sensor, COUNT(*), SESSION_START(ts, INTERVAL '1' SECOND), SESSION_END(ts, INTERVAL '1' SECOND) FROM r GROUP BY sensor, SESSION(ts, INTERVAL '1' SECOND)", order: Any,
            model: |rs| sessions(rs, 1_000).into_iter().map(|(k, st, end, g)| vec![s(&k), V::I(g.len() as i64), V::T(st), V::T(end)]).collect() },
        Case { columns: "a STRING, b DOUBLE", query: "SELECT sensor, MAX(temperature) - MIN(temperature) FROM r GROUP BY sensor, SESSION(ts, INTERVAL '2' SECOND) HAVING COUNT(*) > 10", order: Any,
            model: |rs| sessions(rs, 2_000).into_iter().filter(|(_, _, _, g)| g.len() > 10).map(|(k, _, _, g)| vec![s(&k), V::F(max_t(&g) - min_t(&g))]).collect() },
        Case { columns: "a TIMESTAMP(3), b TIMESTAMP(3), c STRING, d BIGINT", query: "SELECT window_start, window_end, sensor, COUNT(*) FROM TABLE(TUMBLE(TABLE r, DESCRIPTOR(ts), INTERVAL '15' SECOND)) GROUP BY window_start, window_end, sensor", order: Any,
            model: |rs| windows(rs, 15_000, 15_000, by_sensor).into_iter().map(|((k, st), g)| vec![V::T(st), V::T(st + 15_000), s(&k), V::I(g.len() as i64)]).collect() },
        Case { columns: "a TIMESTAMP(3), b BIGINT", query: "SELECT window_end, SUM(level) FROM TABLE(HOP(TABLE r, DESCRIPTOR(ts), INTERVAL '10' SECOND, INTERVAL '30' SECOND)) WHERE ok GROUP BY window_start, window_end", order: Any,
            model: |rs| {
                let ok: Vec<Row> = rs.iter().filter(|r| r.ok).cloned().collect();
                windows(&ok, 30_000, 10_000, no_key).into_iter().map(|((_, st), g)| vec![V::T(st + 30_000), V::I(g.iter().map(|r| r.level).sum())]).collect()
            } },
        Case { columns: "a STRING, b TIMESTAMP(3)", query: "SELECT sensor, TUMBLE_START(ts, INTERVAL '1' MINUTE) FROM r WHERE level = 20 GROUP BY sensor, TUMBLE(ts, INTERVAL '1' MINUTE)", order: Any,
            model: |rs| {
                let top: Vec<Row> = rs.iter().filter(|r| r.level == 20).cloned().collect();
                windows(&top, 60_000, 60_000, by_sensor).into_keys().map(|(k, st)| vec![s(&k), V::T(st)]).collect()
            } },
        Case { columns: "a STRING, b BIGINT, c DOUBLE", query: "SELECT UPPER(sensor), COUNT(*) * 2, SUM(temperature) / COUNT(*) FROM r GROUP BY sensor, TUMBLE(ts, INTERVAL '10' SECOND)", order: Any,
            model: |rs| windows(rs, 10_000, 10_000, by_sensor).into_iter().map(|((k, _), g)| vec![s(&k.to_uppercase()), V::I(2 * g.len() as i64), V::F(avg_t(&g))]).collect() },
        Case { columns: "a BIGINT, b DOUBLE, c TIMESTAMP(3)", query: "SELECT COUNT(*), SUM(temperature), TUMBLE_END(ts, INTERVAL '1' MINUTE) FROM r GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE)", order: Any,
            model: |rs| windows(rs, 60_000, 60_000, no_key).into_iter().map(|((_, st), g)| vec![V::I(g.len() as i64), V::F(g.iter().map(|r| r.temperature).sum()), V::T(st + 60_000)]).collect() },
        Case { columns: "a STRING, b BIGINT", query: "SELECT sensor, MIN(level) FROM r WHERE sensor LIKE 's%' AND ts >= TIMESTAMP '2023-12-31 23:59:50' + INTERVAL '200' SECOND GROUP BY sensor, TUMBLE(ts, INTERVAL '10' SECOND)", order: Any,
            model: |rs| {
                let later: Vec<Row> = rs.iter().filter(|r| r.time >= START + 200_000).cloned().collect();
                windows(&later, 10_000, 10_000, by_sensor).into_iter().map(|((k, _), g)| vec![s(&k), V::I(g.iter().map(|r| r.level).min().unwrap())]).collect()
            } },
        Case { columns: "a STRING, b BOOLEAN", query: "SELECT sensor, MAX(temperature) > 110 FROM r GROUP BY sensor, TUMBLE(ts, INTERVAL '10' SECOND)", order: Any,
            model: |rs| windows(rs, 10_000, 10_000, by_sensor).into_iter().map(|((k, _), g)| vec![s(&k), V::B(max_t(&g) > 110.0)]).collect() },
        // Wasm functions as process table functions, rows as the plugins compute them.
        Case { columns: "a STRING, b DOUBLE", query: "SELECT sensor, temperature_c FROM c(TABLE r, decimals => 1) WHERE level > 3", order: Kept,
            model: |rs| select(rs, |r| r.level > 3, |r| vec![s(&r.sensor), V::F(celsius(r.temperature, 10.0))]) },
        Case { columns: "a STRING, b BIGINT", query: "SELECT sensor, level FROM hot(TABLE r)", order: Kept,
            model: |rs| select(rs, |r| r.temperature > 104.5, |r| vec![s(&r.sensor), V::I(r.level)]) },
        Case { columns: "a STRING, b DOUBLE, c BIGINT", query: "SELECT sensor, MAX(temperature_c), COUNT(*) FROM c(input => TABLE r) WHERE temperature_c > 39 GROUP BY sensor, TUMBLE(ts, INTERVAL '10' SECOND)", order: Any,
            model: |rs| {
                let hot: Vec<Row> = rs.iter().filter(|r| celsius(r.temperature, 100.0) > 39.0).cloned().collect();
                windows(&hot, 10_000, 10_000, by_sensor).into_iter().map(|((k, _), g)| vec![s(&k), V::F(celsius(max_t(&g), 100.0)), V::I(g.len() as i64)]).collect()
            } },
        // A map plugin as a scalar function: in the select list, in WHERE, in an aggregate.
        Case { columns: "a STRING, b DOUBLE, c DOUBLE", query: "SELECT sensor, c(temperature), temperature FROM r WHERE c(temperature) > 40", order: Kept,
            model: |rs| select(rs, |r| celsius(r.temperature, 100.0) > 40.0, |r| vec![s(&r.sensor), V::F(celsius(r.temperature, 100.0)), V::F(r.temperature)]) },
        Case { columns: "a STRING, b DOUBLE", query: "SELECT sensor, MAX(c(temperature)) FROM r WHERE level > 2 GROUP BY sensor, TUMBLE(ts, INTERVAL '10' SECOND)", order: Any,
            model: |rs| {
                let kept: Vec<Row> = rs.iter().filter(|r| r.level > 2).cloned().collect();
                windows(&kept, 10_000, 10_000, by_sensor).into_iter().map(|((k, _), g)| vec![s(&k), V::F(celsius(max_t(&g), 100.0))]).collect()
            } },
    ]
}

/// The fahrenheit-to-celsius plugin's conversion, rounded as it rounds.
fn celsius(fahrenheit: f64, scale: f64) -> f64 {
    ((fahrenheit - 32.0) * 5.0 / 9.0 * scale).round() / scale
}

#[test]
fn every_query_gives_the_rows_the_model_computes() {
    let rows = readings();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("r.ndjson");
    fs::write(&input, as_json(&rows)).unwrap();
    let cases = cases();
    assert!(cases.len() >= 40, "{} queries", cases.len());
    for case in &cases {
        let expected = (case.model)(&rows);
        assert!(
            !expected.is_empty(),
            "{}: the model gives no rows; a weak case",
            case.query
        );
        let (got, stderr) = run(case, &input, dir.path());
        let (got, expected) = match case.order {
            Order::Kept => (got, expected),
            Order::Any => (sorted(got), sorted(expected)),
        };
        assert_eq!(
            got.len(),
            expected.len(),
            "{}: row count\n{stderr}",
            case.query
        );
        for (index, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(g, e, "{}: row {index}", case.query);
        }
        let zeros = rows.iter().filter(|r| r.level == 0).count();
        if case.query == "SELECT 100 / level FROM r" {
            assert!(
                zeros > 0 && stderr.contains(&format!("expression failures {zeros}")),
                "{stderr}"
            );
        } else {
            assert!(
                stderr.contains("dead-lettered                 0"),
                "{}: {stderr}",
                case.query
            );
        }
    }
}
