-- The seed's sensor alert on a file that another program keeps writing:
-- weir reads it as it grows, like `tail -F`, and with checkpoints a restart
-- resumes where the last run stopped.
-- Try it:  weir generate sensors --rate 2000 --events 10000000 --output out/readings.ndjson &
--          weir run pipelines/sensor-alerts-tail.sql
-- The same plan as pipelines/sensor-alerts-tail.toml, written in SQL.

CREATE FUNCTION hot_readings AS '../plugins/dist/over_threshold.wasm' LANGUAGE WASM
  WITH ('threshold' = '100.0');
CREATE FUNCTION spike_alert AS '../plugins/dist/spike_alert.wasm' LANGUAGE WASM
  WITH ('min_count' = '5');

SET 'weir.dead-letter.path' = '../out/sensor-alerts-tail.dead-letter.ndjson';
SET 'execution.checkpointing.interval' = '5s';

CREATE TABLE readings (
  sensor_id STRING,
  temperature DOUBLE,
  event_time TIMESTAMP(3),
  WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND
) WITH (
  'connector' = 'tail',
  'path' = '../out/readings.ndjson',
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
