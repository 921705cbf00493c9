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
