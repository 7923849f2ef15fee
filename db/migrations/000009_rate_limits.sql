-- 000009: the API's rate limits, shared by every API process (issue "Hostile input and
-- resource limits", slow clients and rate limits).
--
-- One row per limited key and window, written by rate-limiter-flexible's RateLimiterPostgres
-- (api/rate-limit.ts, `tableCreated: true`: the library never creates or alters this table).
-- Its layout is the library's own, column for column and in this order (it inserts with
-- `insert into … values ($1, $2, $3)`):
--   key     the limiter's prefix and what it counts: `evr_rl_key:<api key id>` (requests per
--           minute), `evr_rl_burst:<api key id>` (requests per second), `evr_rl_authfail:<ip>`
--           (failed authentications per minute)
--   points  what was consumed in the current window
--   expire  when the window ends, in milliseconds since the epoch (null: never)
-- Expired rows are deleted by the library every 5 minutes (those expired over an hour ago); a
-- row is a few dozen bytes, one per active key or client address and window.
--
-- The API's queries run on its pool outside any request transaction, as its login (a member
-- of everruns_api, or the owner), so everruns_api gets the table; nobody else does. Unlogged:
-- counters for the next minute are not worth a WAL write per request, and losing them in a
-- crash only restarts every window.

create unlogged table everruns_private.rate_limits (
  key varchar(255) primary key,
  points integer not null default 0,
  expire bigint
);
comment on table everruns_private.rate_limits is 'The API''s rate-limit windows (rate-limiter-flexible RateLimiterPostgres layout; api/rate-limit.ts) (000009).';
revoke all on everruns_private.rate_limits from public;
grant select, insert, update, delete on everruns_private.rate_limits to everruns_api;
