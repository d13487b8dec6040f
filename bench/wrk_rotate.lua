-- wrk script of the side-by-side benchmark (bench/loadgen.py writes its input).
--
-- Usage: wrk ... -s bench/wrk_rotate.lua URL -- REQUESTS_FILE
-- REQUESTS_FILE holds complete HTTP/1.1 requests, each preceded by a line with its length in
-- bytes. Every thread walks the list from its own starting point, so consecutive requests
-- belong to different users. A response whose status is not 200, or whose body carries a
-- non-empty GraphQL `errors` list, is counted; done() prints one line of JSON.

local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("thread_number", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local data = file:read("*a")
  file:close()
  pending = {}
  local at = 1
  while at <= #data do
    local newline = data:find("\n", at, true)
    local length = tonumber(data:sub(at, newline - 1))
    pending[#pending + 1] = data:sub(newline + 1, newline + length)
    at = newline + length + 1
  end
  position = (thread_number * 7919) % #pending
  responses = 0
  bad_status = 0
  graphql_errors = 0
end

function request()
  position = position % #pending + 1
  return pending[position]
end

function response(status, headers, body)
  responses = responses + 1
  if status ~= 200 then
    bad_status = bad_status + 1
  elseif body and body:find('"errors"%s*:%s*%[%s*{') then
    graphql_errors = graphql_errors + 1
  end
end

function done(summary, latency, requests)
  local counted, bad, errors = 0, 0, 0
  for _, thread in ipairs(threads) do
    counted = counted + thread:get("responses")
    bad = bad + thread:get("bad_status")
    errors = errors + thread:get("graphql_errors")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"responses":%d,"non_200":%d,"graphql_errors":%d,' ..
    '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"status_errors":%d,' ..
    '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p95":%d,"p99":%d}}\n',
    summary.requests, summary.duration, summary.bytes, counted, bad, errors,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99)))
end
