-- wrk script for http_bench.sh's PIPELINE mode: every write sends DEPTH
-- pipelined `GET /` requests (one string of DEPTH requests back to back),
-- and the connection writes its next batch once all DEPTH answers arrived.
--
--   PIPELINE=16 wrk -t1 -c50 -d5s -s bench/pipeline.lua http://127.0.0.1:18880/
--
-- DEPTH is $PIPELINE (16 if unset). An environment variable rather than an
-- argument after `--`: wrk runs `done` in a Lua state where `init` never
-- ran, and the final line below needs the depth too.
--
-- How requests are counted: wrk parses the first batch this script returns
-- and learns that one write holds DEPTH requests; it then counts every HTTP
-- response it reads, so its "N requests in ..." and "Requests/sec" lines
-- are real HTTP requests (DEPTH per write), not writes: do not multiply
-- them by DEPTH. (Checked against a server counting the requests it
-- parsed; see bench/README.md.) wrk's latency figures are per batch: from
-- the write to the batch's last response. The line this script prints at
-- the end repeats the depth and wrk's count, so the log shows both.

local depth = tonumber(os.getenv("PIPELINE") or "16")
if depth == nil or depth < 1 or depth % 1 ~= 0 then
    error("pipeline.lua: PIPELINE must be a whole number >= 1")
end
local batch

function init(args)
    batch = string.rep(wrk.format("GET", "/"), depth)
end

function request()
    return batch
end

function done(summary, latency, requests)
    io.write(string.format("pipeline.lua: depth %d, %d HTTP responses counted\n",
        depth, summary.requests))
end
