-- The seed's sensor alert in its own words: the guide's two statements,
-- with the WITH clause reading the bundled sample instead of Kafka.
-- Run it:  weir run pipelines/sensor-alerts.sql
-- Its Kafka form, as the guide wrote it, runs too (a broker at localhost:9092).
CREATE TEMPORARY TABLE sensor_data (
sensor_id STRING,
temperature DOUBLE,
event_time TIMESTAMP(3),
WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND
) WITH (
'connector' = 'filesystem',
'path' = '../data/sensors-sample.ndjson',
'format' = 'json'
);

SELECT sensor_id, COUNT(*), TUMBLE_END(event_time, INTERVAL '10' SECOND) AS window_end
FROM sensor_data
WHERE temperature > 100
GROUP BY sensor_id, TUMBLE(event_time, INTERVAL '10' SECOND)
HAVING COUNT(*) > 5
