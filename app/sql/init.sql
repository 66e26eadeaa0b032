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
