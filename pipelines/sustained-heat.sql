-- "Alert when a sensor stays above 100 °F for more than 5 seconds"
-- (pipelines/sustained-heat.toml in SQL): the keyed sustained-heat plugin
-- over each sensor's readings, its state checkpointed every 5 s.
--   weir run pipelines/sustained-heat.sql
CREATE FUNCTION sustained_heat AS '../plugins/dist/sustained_heat.wasm' LANGUAGE WASM;

SET 'weir.dead-letter.path' = '../out/sustained-heat.dead-letter.ndjson';
SET 'state.checkpoints.dir' = '../out/checkpoints/sustained-heat';
SET 'execution.checkpointing.interval' = '5s';

CREATE TABLE readings (
  sensor_id STRING,
  temperature DOUBLE,
  event_time TIMESTAMP(3),
  WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = '../data/sensors-sample.ndjson', 'format' = 'json');

SELECT * FROM sustained_heat(input => TABLE readings PARTITION BY sensor_id,
                             threshold => 100.0, duration_ms => 5000)
