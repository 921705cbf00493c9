-- The seed's sensor alert on a live stream, fed forever by the generator,
-- with the admin API on (see the README tour):
--   weir generate sensors --events 1000000000 --rate 2000 | weir run pipelines/sensor-alerts-live.sql --admin
-- Its stages are hot_per_sensor.hot_readings, hot_per_sensor.window,
-- hot_per_sensor.select and spike_alert; `weir plugin unload
-- hot_per_sensor.hot_readings` lets every reading through ('weir.unload').
-- The same plan as pipelines/sensor-alerts-live.toml, written in SQL.

CREATE FUNCTION hot_readings AS '../plugins/dist/over_threshold.wasm' LANGUAGE WASM
  WITH ('threshold' = '100.0',
       'weir.unload' = 'bypass');
CREATE FUNCTION spike_alert AS '../plugins/dist/spike_alert.wasm' LANGUAGE WASM
  WITH ('min_count' = '5');

SET 'weir.dead-letter.path' = '../out/sensor-alerts-live.dead-letter.ndjson';

CREATE TABLE readings (
  sensor_id STRING,
  temperature DOUBLE,
  event_time TIMESTAMP(3),
  WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND
) WITH (
  'connector' = 'stdin',
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
