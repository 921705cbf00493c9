-- Loads the bundled sample readings into the `sensor-readings` topic, keyed by
-- sensor: weir as a producer (a file source, no operators, a Kafka sink), to
-- feed pipelines/sensor-alerts-kafka.sql. See the README, "Kafka".
-- The same plan as pipelines/sensors-to-kafka.toml, written in SQL.

SET 'weir.dead-letter.path' = '../out/sensors-to-kafka.dead-letter.ndjson';

CREATE TABLE readings (
  sensor_id STRING,
  temperature DOUBLE,
  event_time TIMESTAMP(3),
  WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = '../data/sensors-sample.ndjson',
  'format' = 'json'
);

CREATE TABLE readings_topic (
  sensor_id STRING,
  temperature DOUBLE,
  event_time TIMESTAMP(3)
) WITH (
  'connector' = 'kafka',
  'properties.bootstrap.servers' = '127.0.0.1:19092',
  'topic' = 'sensor-readings',
  'key.fields' = 'sensor_id',
  'format' = 'json'
);

INSERT INTO readings_topic SELECT * FROM readings;
