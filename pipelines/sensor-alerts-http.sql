-- The seed's sensor alert, fed by a webhook: clients POST readings (one JSON
-- object, a JSON array, or NDJSON) to http://127.0.0.1:8080/readings.
-- Run it:  WEIR_INGEST_SECRET=s3cret weir run pipelines/sensor-alerts-http.sql
-- Send:    curl -H 'x-weir-secret: s3cret' --data-binary @data/sensors-sample.ndjson http://127.0.0.1:8080/readings
-- A 429 answer (with Retry-After) means the pipeline is behind and took
-- nothing of that request: send it again after the wait.
-- The same plan as pipelines/sensor-alerts-http.toml, written in SQL.

CREATE FUNCTION hot_readings AS '../plugins/dist/over_threshold.wasm' LANGUAGE WASM
  WITH ('threshold' = '100.0');
CREATE FUNCTION spike_alert AS '../plugins/dist/spike_alert.wasm' LANGUAGE WASM
  WITH ('min_count' = '5');

SET 'weir.dead-letter.path' = '../out/sensor-alerts-http.dead-letter.ndjson';

CREATE TABLE readings (
  sensor_id STRING,
  temperature DOUBLE,
  event_time TIMESTAMP(3),
  WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND
) WITH (
  'connector' = 'http',
  'listen' = '127.0.0.1:8080',
  'path' = '/readings',
  'secret-env' = 'WEIR_INGEST_SECRET',
  'max-body-bytes' = '1048576',
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

SELECT * FROM spike_alert(TABLE hot_per_sensor);
