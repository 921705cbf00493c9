-- The seed's fraud example (pipelines/fraud-detection.toml in SQL): the
-- keyed fraud-detector plugin as a process table function, Flink's form for
-- a user operator that keeps state per key. PARTITION BY is its key_by;
-- named arguments add to the options of CREATE FUNCTION's WITH.
--   weir generate payments --events 200000 | weir run pipelines/fraud-detection.sql
CREATE FUNCTION fraud_detector AS '../plugins/dist/fraud_detector.wasm' LANGUAGE WASM
  WITH ('small_max' = '5.0', 'large_min' = '500.0');

SET 'weir.dead-letter.path' = '../out/fraud-detection.dead-letter.ndjson';

CREATE TABLE payments (
  user_id STRING,
  amount DOUBLE,
  ip STRING,
  event_time TIMESTAMP(3),
  WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND
) WITH ('connector' = 'stdin', 'format' = 'json');

SELECT * FROM fraud_detector(TABLE payments PARTITION BY user_id, within_ms => 300000)
