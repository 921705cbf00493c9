-- Sessions per user: a session ends after 10 s without a click
-- (pipelines/user-sessions.toml in SQL).
--   weir generate clicks --events 300000 --pages 20 | weir run pipelines/user-sessions.sql
SET 'weir.dead-letter.path' = '../out/user-sessions.dead-letter.ndjson';

CREATE TABLE clicks (
  user_id STRING,
  page STRING,
  event_time TIMESTAMP(3),
  WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND
) WITH ('connector' = 'stdin', 'format' = 'json');

SELECT user_id,
       SESSION_START(event_time, INTERVAL '10' SECOND) AS window_start,
       SESSION_END(event_time, INTERVAL '10' SECOND) AS window_end,
       COUNT(*) AS clicks,
       COUNT(DISTINCT page) AS pages,
       FIRST_VALUE(page) AS entry_page,
       LAST_VALUE(page) AS exit_page
FROM clicks
GROUP BY user_id, SESSION(event_time, INTERVAL '10' SECOND)
