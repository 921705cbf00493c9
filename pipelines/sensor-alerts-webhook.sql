-- The seed's sensor alert, acted on: each alert POSTed to a webhook.
-- Run it:  weir run pipelines/sensor-alerts-webhook.sql
-- with something listening on the URL below (for a Slack channel, put its
-- incoming-webhook URL there: the template is a Slack message body).
-- The same plan as pipelines/sensor-alerts-webhook.toml, written in SQL.

CREATE FUNCTION hot_readings AS '../plugins/dist/over_threshold.wasm' LANGUAGE WASM
  WITH ('threshold' = '100.0');
CREATE FUNCTION spike_alert AS '../plugins/dist/spike_alert.wasm' LANGUAGE WASM
  WITH ('min_count' = '5');

SET 'weir.dead-letter.path' = '../out/sensor-alerts-webhook.dead-letter.ndjson';

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
  'connector' = 'webhook',
  'url' = 'http://127.0.0.1:9000/hook',
  'template' = '{"text": "sensor {sensor_id}: {count} readings over 100 °F in the 10 s to {window_end}"}',
  'max-retries' = '5',
  'retry-backoff' = '200ms'
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
