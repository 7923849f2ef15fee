-- The open attempts of a pool, for the dead-pool sweep.
--
-- everruns_private.attempts_of_dead_pools (000013), which sweep_dead_workers calls whenever it
-- finds a dead pool, closes that pool's open attempts (`outcome is null and pool_id = any (...)`).
-- run_attempts had only its primary key (run_id, seq, attempt), so that lookup read the whole
-- table inside the sweep's transaction: at 100k attempts a sequential scan of 1,539 pages
-- (7.3 ms), growing with the table's history, on the path that frees a killed worker's runs.
--
-- Partial: only open attempts (a run's current step on some worker) are in it, so the index
-- stays as small as the work in flight, whatever the history. Its price: the update that closes
-- an attempt (sets outcome) changes a column of the index's predicate, so it is no longer a HOT
-- update and adds a primary key entry (measured on a copy of the table: 5,000 of 5,000 closing
-- updates HOT without it, 0 with it; insert+close throughput within noise, ~3,300 vs ~3,250/s
-- at 4 clients). A plain index on pool_id would keep them HOT but grow with every attempt ever
-- made and make the sweep read all of a dead pool's past attempts.
--
-- Built in the migration's transaction (migrations cannot build concurrently): writes to
-- run_attempts wait for the build, one read of the table (milliseconds at 100k rows).
create index run_attempts_open_pool_idx on everruns.run_attempts (pool_id) where outcome is null;
comment on index everruns.run_attempts_open_pool_idx is 'Open attempts by worker pool: the dead-pool sweep (attempts_of_dead_pools) (000020).';
