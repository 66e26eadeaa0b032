-- voting-storage 2.0 (official mysql:8 image): mounted into /docker-entrypoint-initdb.d,
-- run once against MYSQL_DATABASE on first start (the entrypoint selects that database).
-- The app also runs the same CREATE TABLE IF NOT EXISTS on first use, so a fresh server works too.
--
-- One row per candidate. A vote is one atomic statement:
--   INSERT INTO votes (candidate, count) VALUES (?, 1) ON DUPLICATE KEY UPDATE count = count + 1;
-- Reset:
--   INSERT INTO votes (candidate, count) VALUES (?, 0), (?, 0) ON DUPLICATE KEY UPDATE count = 0;
CREATE TABLE IF NOT EXISTS votes (
  candidate VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
  count BIGINT NOT NULL DEFAULT 0
);

-- The Redis → MySQL carry (`node dist/carry.js`, src/carryVotes.ts) adds the votes 1.x took in
-- Redis to `votes`. Per candidate, `carried` is the Redis count already added (the watermark) and
-- `redis_resets` the Redis reset counter (`votes:resets`) it was read with; the votes and the
-- watermark change in one transaction, so a carry run twice adds nothing the second time.
-- `carried_at` is when a carry last committed, `final_carry` whether that was the carry of finalize
-- (after which Redis stops). The carry also creates this table if absent (a database initialised
-- before it existed).
CREATE TABLE IF NOT EXISTS carried_from_redis (
  candidate VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
  carried BIGINT NOT NULL DEFAULT 0,
  redis_resets BIGINT NOT NULL DEFAULT 0,
  carried_at TIMESTAMP(3) NULL DEFAULT NULL,
  final_carry TINYINT(1) NOT NULL DEFAULT 0
);
