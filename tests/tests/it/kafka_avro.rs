//! Avro in from Kafka: readings produced as Avro datums (single-object
//! encoding, by the apache-avro crate) to a real broker, read with the
//! writer's `.avsc`, through the seed query: the alerts equal the
//! reference model's; a datum that does not match goes to the dead letters.

use apache_avro::types::{Record, Value as Avro};
use weir_tests::kafka::Broker;
use weir_tests::{
    json_lines, parse_alerts, parse_readings, plugin, reference_alerts, seed_query, text, weir,
};

const AVSC: &str = r#"{"type": "record", "name": "Reading", "namespace": "sensors", "fields": [
    {"name": "sensor_id", "type": "string"},
    {"name": "site", "type": ["null", "string"], "default": null},
    {"name": "temperature", "type": "double"},
    {"name": "event_time", "type": {"type": "long", "logicalType": "timestamp-millis"}}
]}"#;

#[test]
fn avro_readings_from_kafka_raise_the_reference_alerts() {
    let broker = Broker::start();
    broker.create_topic("avro-readings", 3);
    let dir = tempfile::tempdir().unwrap();
    let readings = parse_readings(&weir_tests::generated(30_000, 4, 0.0));
    let schema = apache_avro::Schema::parse_str(AVSC).unwrap();
    let mut payloads = Vec::new();
    for reading in &readings {
        let mut record = Record::new(&schema).unwrap();
        record.put("sensor_id", reading.sensor_id.as_str());
        record.put(
            "site",
            Avro::Union(1, Box::new(Avro::String("north".into()))),
        );
        record.put("temperature", reading.temperature);
        record.put("event_time", Avro::TimestampMillis(reading.event_time));
        // The single-object encoding: C3 01, the schema's fingerprint, the datum.
        let mut payload = vec![0xC3, 0x01];
        payload.extend(schema.fingerprint::<apache_avro::rabin::Rabin>().bytes);
        payload.extend(apache_avro::to_avro_datum(&schema, record).unwrap());
        payloads.push((reading.sensor_id.clone(), payload));
    }
    // One value that is not a datum of the schema.
    payloads.push(("sensor-0001".into(), b"not avro".to_vec()));
    broker.produce_bytes("avro-readings", &payloads);

    std::fs::write(dir.path().join("reading.avsc"), AVSC).unwrap();
    let output = dir.path().join("alerts.jsonl");
    let dead = dir.path().join("dead.jsonl");
    let source = format!(
        r#"{{ kind = "kafka", bootstrap_servers = "{}", topic = "avro-readings", group_id = "avro-test", start_from = "earliest", bounded = true, format = "avro", avro_schema = "{}" }}"#,
        broker.bootstrap(),
        dir.path().join("reading.avsc").display()
    );
    let pipeline = dir.path().join("avro.toml");
    let filter = plugin("over_threshold.wasm");
    std::fs::write(
        &pipeline,
        seed_query(&source, std::path::Path::new(&filter), &output, Some(&dead)),
    )
    .unwrap();
    let run = weir(&["run", pipeline.to_str().unwrap()], b"");
    let stderr = text(&run.stderr);
    assert!(run.status.success(), "{stderr}");

    // Three partitions interleave differently from the input order, so the
    // model is run per the watermark weir can give: with no late readings
    // at this disorder, the alerts are the same either way.
    let (mut expected, late) = reference_alerts(&readings, 5_000, 100.0, 5);
    assert_eq!(late, 0);
    expected.sort();
    let mut got = parse_alerts(&std::fs::read_to_string(&output).unwrap());
    got.sort();
    assert_eq!(got, expected);
    let dead = json_lines(&std::fs::read_to_string(&dead).unwrap());
    let decode: Vec<_> = dead.iter().filter(|d| d["kind"] == "decode").collect();
    assert_eq!(decode.len(), 1, "{dead:?}");
    assert!(decode[0]["source"]
        .as_str()
        .unwrap()
        .starts_with("avro-readings ["));
}

/// "JSON in, Avro out" on Kafka: the seed alerts produced as Avro
/// single-object datums, decoded with apache-avro from the schema weir
/// derives, equal to the same query's JSON results.
#[test]
fn alerts_produced_as_avro_decode_to_the_json_results() {
    let broker = Broker::start();
    broker.create_topic("avro-alerts", 1);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("readings.ndjson");
    std::fs::write(&input, weir_tests::generated(30_000, 6, 0.0)).unwrap();
    let expected = weir_tests::seed_query_twice(
        dir.path(),
        &input,
        &format!(
            r#"{{ kind = "kafka", bootstrap_servers = "{}", topic = "avro-alerts", format = "avro" }}"#,
            broker.bootstrap()
        ),
    );
    let messages = broker.read_bytes(
        "avro-alerts",
        expected.len(),
        std::time::Duration::from_secs(20),
    );
    assert_eq!(messages.len(), expected.len());

    // The writer's schema as weir derives it, from its documented mapping.
    let schema = apache_avro::Schema::parse_str(
        r#"{"type": "record", "name": "avro_alerts", "namespace": "weir", "fields": [
            {"name": "sensor_id", "type": "string"},
            {"name": "window_start", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "window_end", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "count", "type": "long"},
            {"name": "alert", "type": "string"}
        ]}"#,
    )
    .unwrap();
    // The Parsing Canonical Form as the Avro specification defines it:
    // logical types dropped, primitives in their simple form. (apache-avro
    // 0.21's canonical_form() keeps `{"type":"long"}` there, so its own
    // fingerprint of this schema differs; its Rabin digest is used on the
    // specification's form instead.)
    let canonical = r#"{"name":"weir.avro_alerts","type":"record","fields":[{"name":"sensor_id","type":"string"},{"name":"window_start","type":"long"},{"name":"window_end","type":"long"},{"name":"count","type":"long"},{"name":"alert","type":"string"}]}"#;
    let fingerprint = {
        use apache_avro::rabin::Rabin;
        use digest::Digest;
        Rabin::digest(canonical.as_bytes()).to_vec()
    };
    for ((_, value), json) in messages.iter().zip(&expected) {
        assert_eq!(&value[..2], &[0xC3, 0x01], "single-object marker");
        assert_eq!(
            &value[2..10],
            &fingerprint[..],
            "the schema's Rabin fingerprint"
        );
        let decoded = apache_avro::from_avro_datum(&schema, &mut &value[10..], None).unwrap();
        let Avro::Record(fields) = decoded else {
            panic!("{decoded:?}")
        };
        for (name, value) in &fields {
            let want = &json[name.as_str()];
            let got = match value {
                Avro::String(s) => serde_json::Value::from(s.as_str()),
                Avro::Long(v) => serde_json::Value::from(*v),
                Avro::TimestampMillis(ms) => weir::format::timestamp::format(*ms).into(),
                other => panic!("{other:?}"),
            };
            assert_eq!(&got, want, "field {name}");
        }
    }
}
