-- The seed's "JSON in, Avro out": the sensor alerts of the JSON sample,
-- written as an Avro object container file that any Avro reader opens
-- (e.g. `avro-tools tojson out/sensor-alerts.avro`, or fastavro).
-- Run it:  weir run pipelines/sensor-alerts-avro.sql
-- The same plan as pipelines/sensor-alerts-avro.toml, written in SQL.

CREATE FUNCTION hot_readings AS '../plugins/dist/over_threshold.wasm' LANGUAGE WASM
  WITH ('threshold' = '100.0');
CREATE FUNCTION spike_alert AS '../plugins/dist/spike_alert.wasm' LANGUAGE WASM
  WITH ('min_count' = '5');

SET 'weir.dead-letter.path' = '../out/sensor-alerts-avro.dead-letter.ndjson';

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

CREATE TABLE alerts (
  sensor_id STRING,
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  `count` BIGINT,
  max_temperature DOUBLE,
  alert STRING
) WITH (
  'connector' = 'filesystem',
  'path' = '../out/sensor-alerts.avro',
  'format' = 'avro'
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
