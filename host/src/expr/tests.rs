use std::sync::Arc;

use super::*;
use crate::data::{BatchBuilder, Field, Value};

fn schema() -> Arc<Schema> {
    Schema::new(vec![
        Field::new("sensor_id", FieldType::String),
        Field::new("temperature", FieldType::F64),
        Field::new("count", FieldType::I64),
        Field::new("ok", FieldType::Bool),
        Field::new("event_time", FieldType::Timestamp),
    ])
    .unwrap()
}

type Row = (&'static str, f64, i64, bool, i64);

/// An expression's text and what it gives for one row, computed in Rust.
type Case = (&'static str, Box<dyn Fn(&Row) -> Value<'static>>);

const ROWS: [Row; 4] = [
    ("s-1", 99.5, 3, true, 1_704_067_198_890),
    ("S-22", 100.0, 0, false, 1_704_067_200_000),
    (" s-3 ", 101.25, -7, true, 0),
    ("x", -4.0, 10, false, 86_400_123),
];

fn batch() -> Batch {
    let mut builder = BatchBuilder::new(schema(), 8);
    for (row, (id, t, c, ok, time)) in ROWS.iter().enumerate() {
        builder.push(
            [
                Value::String(id),
                Value::F64(*t),
                Value::I64(*c),
                Value::Bool(*ok),
                Value::Timestamp(*time),
            ],
            *time,
            0,
            row as u64,
        );
    }
    builder.take(0)
}

fn eval(text: &str) -> (Vec<String>, Vec<usize>) {
    let expr = Expr::parse(text, &schema()).unwrap_or_else(|e| panic!("{text}: {e}"));
    let mut failures = RowFailures::default();
    let column = expr.evaluate(&batch(), &mut failures);
    let values = (0..column.len())
        .map(|row| format!("{:?}", column.get(row)))
        .collect();
    (values, failures.into_rows().map(|(row, _)| row).collect())
}

/// Each expression against the same computation written per row in Rust.
#[test]
fn expressions_match_a_row_by_row_reference() {
    let cases: Vec<Case> = vec![
        ("temperature > 100", Box::new(|r| Value::Bool(r.1 > 100.0))),
        ("temperature >= 100 AND ok", Box::new(|r| Value::Bool(r.1 >= 100.0 && r.3))),
        ("NOT ok OR count < 0", Box::new(|r| Value::Bool(!r.3 || r.2 < 0))),
        ("count * 2 + 1", Box::new(|r| Value::I64(r.2 * 2 + 1))),
        ("count + temperature", Box::new(|r| Value::F64(r.2 as f64 + r.1))),
        ("-count % 4", Box::new(|r| Value::I64(-r.2 % 4))),
        ("temperature / 2", Box::new(|r| Value::F64(r.1 / 2.0))),
        ("count BETWEEN 0 AND 5", Box::new(|r| Value::Bool((0..=5).contains(&r.2)))),
        ("count NOT BETWEEN 0 AND 5", Box::new(|r| Value::Bool(!(0..=5).contains(&r.2)))),
        ("sensor_id IN ('s-1', 'x')", Box::new(|r| Value::Bool(r.0 == "s-1" || r.0 == "x"))),
        ("count NOT IN (3, 10)", Box::new(|r| Value::Bool(r.2 != 3 && r.2 != 10))),
        ("sensor_id LIKE 's-%'", Box::new(|r| Value::Bool(r.0.starts_with("s-")))),
        ("sensor_id ILIKE 's-%'", Box::new(|r| Value::Bool(r.0.to_lowercase().starts_with("s-")))),
        ("sensor_id NOT LIKE '%2'", Box::new(|r| Value::Bool(!r.0.ends_with('2')))),
        ("sensor_id IS NULL", Box::new(|_| Value::Bool(false))),
        ("sensor_id IS NOT NULL", Box::new(|_| Value::Bool(true))),
        ("sensor_id = 'x' OR temperature = 100", Box::new(|r| Value::Bool(r.0 == "x" || r.1 == 100.0))),
        ("sensor_id < 's'", Box::new(|r| Value::Bool(r.0 < "s"))),
        (
            "CASE WHEN temperature > 100 THEN 'hot' WHEN temperature > 0 THEN 'warm' ELSE 'cold' END",
            Box::new(|r| Value::String(if r.1 > 100.0 { "hot" } else if r.1 > 0.0 { "warm" } else { "cold" })),
        ),
        ("CASE count WHEN 3 THEN 1 ELSE 2.5 END", Box::new(|r| Value::F64(if r.2 == 3 { 1.0 } else { 2.5 }))),
        ("CAST(temperature AS BIGINT)", Box::new(|r| Value::I64(r.1.trunc() as i64))),
        ("CAST(count AS DOUBLE) / 2", Box::new(|r| Value::F64(r.2 as f64 / 2.0))),
        ("CHAR_LENGTH(sensor_id)", Box::new(|r| Value::I64(r.0.chars().count() as i64))),
        ("ABS(count)", Box::new(|r| Value::I64(r.2.abs()))),
        ("FLOOR(temperature)", Box::new(|r| Value::F64(r.1.floor()))),
        ("CEIL(temperature)", Box::new(|r| Value::F64(r.1.ceil()))),
        ("EXTRACT(SECOND FROM event_time)", Box::new(|r| Value::I64(r.4.div_euclid(1000) % 60))),
        ("event_time > TIMESTAMP '2023-12-31 23:59:59'", Box::new(|r| Value::Bool(r.4 > 1_704_067_199_000))),
        ("event_time - INTERVAL '5' SECOND", Box::new(|r| Value::Timestamp(r.4 - 5_000))),
        ("event_time + INTERVAL '1' MINUTE > event_time", Box::new(|_| Value::Bool(true))),
        ("1 + 2 * 3 = 7", Box::new(|_| Value::Bool(true))),
    ];
    let rows = batch();
    for (text, reference) in cases {
        let (got, failed) = eval(text);
        assert!(failed.is_empty(), "{text}: rows {failed:?} failed");
        let expected: Vec<String> = ROWS.iter().map(|r| format!("{:?}", reference(r))).collect();
        assert_eq!(got, expected, "{text}");
        assert_eq!(got.len(), rows.len());
    }
}

#[test]
fn string_functions_build_new_strings() {
    let strings = |text: &str| eval(text).0;
    assert_eq!(strings("UPPER(sensor_id)")[0], "String(\"S-1\")");
    assert_eq!(strings("LOWER(sensor_id)")[1], "String(\"s-22\")");
    assert_eq!(strings("TRIM(sensor_id)")[2], "String(\"s-3\")");
    assert_eq!(
        strings("CONCAT(sensor_id, ':', count)")[0],
        "String(\"s-1:3\")"
    );
    assert_eq!(strings("sensor_id || '!'")[3], "String(\"x!\")");
    assert_eq!(
        strings("SUBSTRING(sensor_id FROM 2 FOR 2)")[1],
        "String(\"-2\")"
    );
    assert_eq!(strings("SUBSTRING(sensor_id, 3)")[1], "String(\"22\")");
    assert_eq!(
        strings("CAST(temperature AS STRING)")[1],
        "String(\"100.0\")"
    );
    assert_eq!(strings("CAST(ok AS STRING)")[0], "String(\"TRUE\")");
    assert_eq!(
        strings("DATE_FORMAT(event_time, 'yyyy-MM-dd HH:mm:ss.SSS')")[0],
        "String(\"2023-12-31 23:59:58.890\")"
    );
    assert_eq!(
        strings("CAST(event_time AS STRING)")[0],
        "String(\"2023-12-31 23:59:58.890\")"
    );
}

#[test]
fn rows_that_cannot_be_computed_fail_with_a_reason() {
    let (_, failed) = eval("10 / count");
    assert_eq!(failed, vec![1], "row 1 divides by zero");
    let (_, failed) = eval("CAST(sensor_id AS BIGINT)");
    assert_eq!(failed, vec![0, 1, 2, 3]);
    let (_, failed) = eval("1 / 0");
    assert_eq!(
        failed,
        vec![0, 1, 2, 3],
        "a failing constant fails every row"
    );
}

#[test]
fn branches_not_taken_do_not_fail_their_rows() {
    let (values, failed) = eval("CASE WHEN count = 0 THEN -1 ELSE 10 / count END");
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(values, ["I64(3)", "I64(-1)", "I64(-1)", "I64(1)"]);
    let (_, failed) = eval("count <> 0 AND 10 / count > 1");
    assert!(failed.is_empty(), "{failed:?}");
    let (_, failed) = eval("count = 0 OR 10 / count > 1");
    assert!(failed.is_empty(), "{failed:?}");
    let (_, failed) = eval("count = 3 AND 10 / count > 1");
    assert!(
        failed.is_empty(),
        "row 1 has count 0, so AND never reaches its division"
    );
    let (_, failed) = eval("ok AND 10 / count > 1");
    assert!(failed.is_empty(), "row 1 is not ok");
    let (_, failed) = eval("NOT ok AND 10 / count > 1");
    assert_eq!(failed, vec![1]);
}

#[test]
fn predicates_select_rows_without_the_failed_ones() {
    let expr = Expr::parse("10 / count > 0", &schema()).unwrap();
    let mut failures = RowFailures::default();
    assert_eq!(expr.select(&batch(), &mut failures), vec![0, 3]);
    assert_eq!(failures.len(), 1);
}

#[test]
fn mistakes_are_named_with_their_place() {
    let err = |text: &str| Expr::parse(text, &schema()).unwrap_err();
    let e = err("temprature > 100");
    assert_eq!(e.offset, Some(0));
    assert!(
        e.message.contains("no field `temprature`")
            && e.message.contains("did you mean `temperature`"),
        "{}",
        e.message
    );
    let e = err("temperature > 'hot'");
    assert_eq!(e.message, "cannot compare a f64 with a string");
    let e = err("count + sensor_id");
    assert!(
        e.message
            .contains("`sensor_id` is a string, where a number is needed"),
        "{}",
        e.message
    );
    assert_eq!(e.offset, Some(8));
    let e = err("temperature >");
    assert!(
        e.message.contains("Expected: an expression"),
        "{}",
        e.message
    );
    let e = err("temperature > 100 100");
    assert!(e.message.contains("unexpected `100`"), "{}", e.message);
    assert_eq!(e.offset, Some(18));
    let e = err("CASE WHEN ok THEN 1 END");
    assert!(e.message.contains("needs an ELSE"), "{}", e.message);
    let e = err("COUNT(*) > 5");
    assert!(e.message.contains("GROUP BY"), "{}", e.message);
    let e = err("sqrt(count)");
    assert_eq!(e.message, "unknown function SQRT");
    assert!(err("count = NULL").message.contains("NULL"));
    assert!(err("9223372036854775808 > count")
        .message
        .contains("64-bit"));
}
