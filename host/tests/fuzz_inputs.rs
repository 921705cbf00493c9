//! Fuzzing by property tests, run in CI: whatever bytes arrive, the decoder
//! and the pipeline-file parser answer with a value or an error, never a panic,
//! and the decoder's verdict matches a plain model of the schema rules.

use std::path::Path;

use proptest::prelude::*;
use weir::data::{BatchBuilder, Field, FieldType, Schema};
use weir::format::json::decode_record;
use weir::plugin::PluginEngine;

fn schema() -> std::sync::Arc<Schema> {
    Schema::new(vec![
        Field::new("s", FieldType::String),
        Field::new("f", FieldType::F64),
        Field::new("i", FieldType::I64),
        Field::new("b", FieldType::Bool),
        Field::new("t", FieldType::Timestamp),
    ])
    .unwrap()
}

/// Decodes `line` into a builder holding one good row already, checking that a
/// failed record leaves no partial row behind.
fn decode(line: &[u8]) -> Result<(), String> {
    let schema = schema();
    let mut builder = BatchBuilder::new(schema.clone(), 4);
    decode_record(
        &schema,
        builder.columns_mut(),
        br#"{"s":"x","f":1,"i":2,"b":true,"t":3}"#,
    )
    .unwrap();
    builder.commit_row(3, 0, 1);
    let result = decode_record(&schema, builder.columns_mut(), line);
    match &result {
        Ok(()) => builder.commit_row(0, 0, 2),
        Err(_) => builder.rollback_row(),
    }
    let rows = builder.len();
    let batch = builder.take(0);
    assert!(
        batch.columns.iter().all(|c| c.len() == rows),
        "columns out of step after {result:?}"
    );
    result
}

/// A JSON value for field type `ty`: `Some(true)` when it is of that type.
fn value_for(ty: FieldType) -> impl Strategy<Value = (String, bool)> {
    let good = match ty {
        FieldType::String => any::<String>()
            .prop_map(|s| serde_json::to_string(&s).unwrap())
            .boxed(),
        FieldType::F64 => prop_oneof![
            any::<i32>().prop_map(|v| v.to_string()),
            (-1e12f64..1e12).prop_map(|v| serde_json::to_string(&v).unwrap()),
        ]
        .boxed(),
        FieldType::I64 | FieldType::Timestamp => any::<i64>().prop_map(|v| v.to_string()).boxed(),
        FieldType::Bool => any::<bool>().prop_map(|v| v.to_string()).boxed(),
    };
    let bad = match ty {
        FieldType::String => prop_oneof![Just("1".to_string()), Just("true".to_string())].boxed(),
        FieldType::F64 => prop_oneof![Just("\"1\"".to_string()), Just("false".to_string())].boxed(),
        FieldType::I64 => prop_oneof![Just("1.5".to_string()), Just("\"7\"".to_string())].boxed(),
        FieldType::Timestamp => {
            prop_oneof![Just("\"soon\"".to_string()), Just("2.5".to_string())].boxed()
        }
        FieldType::Bool => prop_oneof![Just("0".to_string()), Just("\"true\"".to_string())].boxed(),
    };
    prop_oneof![
        4 => good.prop_map(|v| (v, true)),
        1 => bad.prop_map(|v| (v, false)),
        1 => Just(("null".to_string(), false)),
        1 => Just(("[1, {\"a\": []}]".to_string(), false)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3_000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(line in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode(&line);
    }

    #[test]
    fn json_like_text_never_panics_the_decoder(line in r#"[{}\[\]":,0-9a-z.\-\\ e+tfnul]{0,80}"#) {
        let _ = decode(line.as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// A record decodes exactly when each schema field is present once with a
    /// value of its type; fields the schema does not name do not matter.
    #[test]
    fn the_decoder_accepts_exactly_well_typed_records(
        values in (value_for(FieldType::String), value_for(FieldType::F64), value_for(FieldType::I64),
                   value_for(FieldType::Bool), value_for(FieldType::Timestamp)),
        present in prop::collection::vec(any::<bool>(), 5),
        extra in prop::option::of(("[a-z]{1,6}", 0u16..10_000)),
        order in Just(()).prop_perturb(|_, mut rng| {
            let mut order: Vec<usize> = (0..5).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.random_range(0..=i));
            }
            order
        }),
    ) {
        let values = [values.0, values.1, values.2, values.3, values.4];
        let names = ["s", "f", "i", "b", "t"];
        let mut members: Vec<String> = order
            .iter()
            .filter(|&&i| present[i])
            .map(|&i| format!("\"{}\": {}", names[i], values[i].0))
            .collect();
        if let Some((key, value)) = &extra {
            if !names.contains(&key.as_str()) {
                members.push(format!("\"{key}\": {value}"));
            }
        }
        let line = format!("{{{}}}", members.join(", "));
        let expected_ok = (0..5).all(|i| present[i] && values[i].1);
        let result = decode(line.as_bytes());
        prop_assert_eq!(result.is_ok(), expected_ok, "{} → {:?}", line, result);
    }
}

const VALID: &str = r#"
source = { kind = "stdin" }
schema = { sensor_id = "string", temperature = "f64", event_time = "timestamp" }
event_time = { field = "event_time", max_out_of_orderness = "5s" }
sink = { kind = "console" }

[[operators]]
type = "window"
size = "10s"
key_by = "sensor_id"
aggregates = { n = "count", hi = "max(temperature)" }
"#;

#[test]
fn the_unmutated_pipeline_is_valid() {
    let engine = PluginEngine::new().unwrap();
    weir::pipeline::parse(Path::new("p.toml"), VALID, &engine).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_500, ..ProptestConfig::default() })]

    /// Random edits of a valid pipeline file: parsed or refused with a located
    /// message, never a panic.
    #[test]
    fn mutated_pipeline_files_are_parsed_or_refused_with_a_location(
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..3, "[a-z0-9=\"{}\\[\\],. \n#-]{0,4}"), 1..4)
    ) {
        thread_local! { static ENGINE: PluginEngine = PluginEngine::new().unwrap(); }
        let mut text = VALID.to_string();
        for (at, kind, insert) in &edits {
            let mut position = at.index(text.len() + 1);
            while !text.is_char_boundary(position) {
                position -= 1;
            }
            match kind {
                0 => text.insert_str(position, insert),
                1 => { let end = (position + insert.len().max(1)).min(text.len()); if text.is_char_boundary(end) { text.replace_range(position..end, ""); } }
                _ => { let end = (position + insert.len()).min(text.len()); if text.is_char_boundary(end) { text.replace_range(position..end, insert); } }
            }
        }
        let result = ENGINE.with(|engine| weir::pipeline::parse(Path::new("p.toml"), &text, engine).map(|_| ()));
        if let Err(error) = result {
            prop_assert!(error.to_string().starts_with("p.toml:"), "{}", error);
        }
    }
}
