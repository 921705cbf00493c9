//! Map plugins as scalar functions of any column: the plugin reads its own
//! field names, bound to the columns the call names, and the query sees
//! only the value it adds.

use std::fs;

use weir_tests::*;

fn script(columns: &str, query: &str) -> String {
    format!(
        "CREATE FUNCTION c AS '{}' LANGUAGE WASM WITH ('decimals' = '1');
CREATE TABLE t ({columns}, event_time TIMESTAMP(3),
  WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND) WITH ('connector' = 'stdin');
{query}",
        plugin("fahrenheit_to_celsius.wasm")
    )
}

/// `c(f)` binds the plugin's `temperature` to the column `f`: each row's
/// value is the plugin's conversion of `f`, and no column but the selected
/// ones reaches the output.
#[test]
fn a_map_plugin_is_a_function_of_the_column_it_is_called_with() {
    let dir = tempfile::tempdir().unwrap();
    let input: String = (0..500)
        .map(|i| {
            let f = 20.0 + i as f64 * 0.37;
            format!(
                "{{\"sensor_id\":\"s{}\",\"f\":{f},\"event_time\":{}}}\n",
                i % 7,
                1_700_000_000_000i64 + i * 100
            )
        })
        .collect();
    let file = dir.path().join("c.sql");
    fs::write(
        &file,
        script(
            "sensor_id STRING, f DOUBLE",
            "SELECT sensor_id, c(f) AS celsius FROM t WHERE f > 50",
        ),
    )
    .unwrap();
    let run = weir(&["run", file.to_str().unwrap()], input.as_bytes());
    assert!(run.status.success(), "{}", text(&run.stderr));
    let expected: Vec<String> = (0..500)
        .map(|i| (i, 20.0 + i as f64 * 0.37))
        .filter(|(_, f)| *f > 50.0)
        .map(|(i, f)| {
            let celsius = ((f - 32.0) * 5.0 / 9.0 * 10.0).round() / 10.0;
            format!("sensor_id=s{}  celsius={celsius}", i % 7)
        })
        .collect();
    assert!(expected.len() > 400);
    assert_eq!(text(&run.stdout).lines().collect::<Vec<_>>(), expected);
}

/// Binding `temperature` to another column would hide the table's own
/// `temperature`; the call is refused, naming both.
#[test]
fn a_binding_that_would_hide_a_column_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.sql");
    fs::write(
        &file,
        script(
            "sensor_id STRING, temperature DOUBLE, f DOUBLE",
            "SELECT sensor_id, c(f), temperature FROM t",
        ),
    )
    .unwrap();
    refused(
        &file,
        "c.sql:4:21: c reads its field `temperature` from `f`, which would hide the column `temperature`",
        "c(f) over a table with its own temperature",
    );
}
