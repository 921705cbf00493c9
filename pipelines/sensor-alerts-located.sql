-- The seed's sensor alert with the sensor's location added ("add location
-- data"): the guide's 10 s count per sensor and HAVING, then each alert
-- looks its sensor up in data/sensors.csv (Flink's lookup join). The SQL
-- twin of sensor-alerts-located.toml.
-- Run it:  weir run pipelines/sensor-alerts-located.sql
CREATE TEMPORARY TABLE sensor_data (
  sensor_id STRING,
  temperature DOUBLE,
  event_time TIMESTAMP(3),
  proc_time AS PROCTIME(),
  WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = '../data/sensors-sample.ndjson',
  'format' = 'json'
);

-- Reference data: read when the query starts, again when the file changes.
CREATE TEMPORARY TABLE sensors (
  sensor_id STRING,
  building STRING,
  floor BIGINT,
  city STRING
) WITH (
  'connector' = 'filesystem',
  'path' = '../data/sensors.csv',
  'format' = 'csv',
  'lookup.join.cache.ttl' = '5s'
);

-- The guide's alert, as a view.
CREATE TEMPORARY VIEW alerts AS
SELECT sensor_id,
       TUMBLE_START(event_time, INTERVAL '10' SECOND) AS window_start,
       TUMBLE_END(event_time, INTERVAL '10' SECOND) AS window_end,
       COUNT(*) AS hot_readings, MAX(temperature) AS max_temperature
FROM sensor_data
WHERE temperature > 100
GROUP BY sensor_id, TUMBLE(event_time, INTERVAL '10' SECOND)
HAVING COUNT(*) > 5;

-- Each alert with where its sensor is; an alert for a sensor the table
-- lacks goes to the dead letters (LEFT JOIN would keep it).
SELECT a.*, s.building, s.floor, s.city
FROM alerts AS a
JOIN sensors FOR SYSTEM_TIME AS OF a.proc_time AS s
  ON a.sensor_id = s.sensor_id
