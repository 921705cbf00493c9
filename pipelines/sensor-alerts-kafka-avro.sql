-- The sensor alert pipeline on Avro readings from Kafka: each message value
-- of `sensor-readings-avro` is an Avro datum of schemas/reading.avsc (with or
-- without the single-object header), alerts go to `sensor-alerts` as JSON.
--
-- Against the test broker (see the README, "Kafka"):
--   scripts/kafka-broker start
--   scripts/kafka-broker topic sensor-readings-avro 4
--   scripts/kafka-broker topic sensor-alerts 1
--   weir run pipelines/sensor-alerts-kafka-avro.sql
-- The same plan as pipelines/sensor-alerts-kafka-avro.toml, written in SQL.

CREATE FUNCTION hot_readings AS '../plugins/dist/over_threshold.wasm' LANGUAGE WASM
  WITH ('threshold' = '100.0');
CREATE FUNCTION spike_alert AS '../plugins/dist/spike_alert.wasm' LANGUAGE WASM
  WITH ('min_count' = '5');

SET 'weir.dead-letter.path' = '../out/sensor-alerts-kafka-avro.dead-letter.ndjson';

CREATE TABLE readings (
  sensor_id STRING,
  temperature DOUBLE,
  event_time TIMESTAMP(3),
  WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND
) WITH (
  'connector' = 'kafka',
  'properties.bootstrap.servers' = '127.0.0.1:19092',
  'topic' = 'sensor-readings-avro',
  'properties.group.id' = 'weir-sensor-alerts-avro',
  'scan.startup.mode' = 'group-offsets',
  'format' = 'avro',
  'avro.schema-file' = 'schemas/reading.avsc'
);

CREATE TABLE alerts (
  sensor_id STRING,
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  `count` BIGINT,
  max_temperature DOUBLE,
  alert STRING
) WITH (
  'connector' = 'kafka',
  'properties.bootstrap.servers' = '127.0.0.1:19092',
  'topic' = 'sensor-alerts',
  'key.fields' = 'sensor_id',
  'format' = 'json'
);

-- Readings over 100 °F, counted per sensor in 10 s tumbling windows.
CREATE TEMPORARY VIEW hot_per_sensor AS
SELECT sensor_id,
       TUMBLE_START(event_time, INTERVAL '10' SECOND) AS window_start,
       TUMBLE_END(event_time, INTERVAL '10' SECOND) AS window_end,
       COUNT(*) AS `count`,
       MAX(temperature) AS max_temperature
FROM hot_readings(TABLE readings)
GROUP BY sensor_id, TUMBLE(event_time, INTERVAL '10' SECOND);

INSERT INTO alerts SELECT * FROM spike_alert(TABLE hot_per_sensor);
