-- Per-sensor percentiles every 10 s with an aggregate plugin
-- (pipelines/sensor-percentiles.toml in SQL): a Wasm component as a SQL
-- aggregate function, its WITH options passed to the plugin's init.
--   weir run pipelines/sensor-percentiles.sql
CREATE FUNCTION p50 AS '../plugins/dist/percentile.wasm' LANGUAGE WASM WITH ('quantile' = '0.5');
CREATE FUNCTION p95 AS '../plugins/dist/percentile.wasm' LANGUAGE WASM WITH ('quantile' = '0.95');

SET 'weir.dead-letter.path' = '../out/sensor-percentiles.dead-letter.ndjson';

CREATE TABLE readings (
  sensor_id STRING,
  temperature DOUBLE,
  event_time TIMESTAMP(3),
  WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = '../data/sensors-sample.ndjson', 'format' = 'json');

CREATE TABLE percentiles (
  sensor_id STRING,
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  readings BIGINT,
  p50 DOUBLE,
  p95 DOUBLE
) WITH ('connector' = 'filesystem', 'path' = '../out/sensor-percentiles.ndjson');

INSERT INTO percentiles
SELECT sensor_id, TUMBLE_START(event_time, INTERVAL '10' SECOND), TUMBLE_END(event_time, INTERVAL '10' SECOND),
       COUNT(*), p50(temperature), p95(temperature)
FROM readings
GROUP BY sensor_id, TUMBLE(event_time, INTERVAL '10' SECOND)
