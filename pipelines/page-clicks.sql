-- The seed's first project: clicks per page every 60 s (pipelines/page-clicks.toml in SQL).
--   weir generate clicks --events 300000 --pages 20 | weir run pipelines/page-clicks.sql
CREATE TABLE clicks (
  user_id STRING,
  page STRING,
  event_time TIMESTAMP(3),
  WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND
) WITH ('connector' = 'stdin', 'format' = 'json');

SELECT page, TUMBLE_START(event_time, INTERVAL '60' SECOND) AS window_start,
       TUMBLE_END(event_time, INTERVAL '60' SECOND) AS window_end, COUNT(*) AS clicks
FROM clicks
GROUP BY page, TUMBLE(event_time, INTERVAL '60' SECOND)
