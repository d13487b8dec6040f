-- wrk script of the side-by-side benchmark's write mix (bench/loadgen.py writes its input).
--
-- Usage: wrk ... -s bench/wrk_writes.lua URL -- TEMPLATES_FILE MARKER ID_KEY UPDATED_STATUS
--
-- TEMPLATES_FILE holds, per entry (a user and a project of theirs), four chunks each preceded
-- by a line with its length in bytes: the create's head (request line and headers, without
-- Content-Length), its body, the update's head and its body. Bodies carry placeholders:
-- @@TITLE@@ (the new task's title: MARKER, the entry's number, the thread and a sequence
-- number), and for a client that makes them (PostGraphile) @@NEWID@@ (a fresh UUID) and
-- @@POSITION@@; the update's @@ID@@ is the created task's id as the create's answer gave it
-- (the JSON string after "ID_KEY").
--
-- Every create is followed by one update of the task it created: a create's answer queues
-- the update, and the thread's next request sends the oldest queued update before any new
-- create. (wrk's Lua API does not say which connection a response came on, so the update goes
-- out on the thread's next free connection, not necessarily the create's.) done() prints one
-- line of JSON with the counts bench.side_by_side checks against the rows left in the database.

local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("thread_number", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

local function chunks(data)
  local list, at = {}, 1
  while at <= #data do
    local newline = data:find("\n", at, true)
    local length = tonumber(data:sub(at, newline - 1))
    list[#list + 1] = data:sub(newline + 1, newline + length)
    at = newline + length + 1
  end
  return list
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local parts = chunks(file:read("*a"))
  file:close()
  marker, id_key, updated_status = args[2], args[3], args[4]
  entries = {}
  for i = 1, #parts, 4 do
    entries[#entries + 1] = {
      create_head = parts[i], create_body = parts[i + 1], update_head = parts[i + 2], update_body = parts[i + 3],
    }
  end
  -- The marker is random per run: seeding with it keeps one run's UUIDs apart from another's.
  math.randomseed(tonumber(marker:sub(2, 8), 16) + thread_number * 7919)
  position = (thread_number * 7919) % #entries
  queue, first, last = {}, 1, 0
  seq = 0
  creates_sent, updates_sent, created, updated, malformed = 0, 0, 0, 0, 0
  responses, bad_status, graphql_errors = 0, 0, 0
end

local function uuid4()
  local r = math.random
  return string.format("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x",
    r(0, 0xffff), r(0, 0xffff), r(0, 0xffff), r(0, 0xfff), r(0x8000, 0xbfff), r(0, 0xffff), r(0, 0xffff), r(0, 0xffff))
end

local function complete(head, body)
  return head .. "Content-Length: " .. #body .. "\r\n\r\n" .. body
end

function request()
  if first <= last then
    local item = queue[first]
    queue[first] = nil
    first = first + 1
    updates_sent = updates_sent + 1
    local entry = entries[item.entry]
    return complete(entry.update_head, (entry.update_body:gsub("@@ID@@", item.id)))
  end
  position = position % #entries + 1
  seq = seq + 1
  local entry = entries[position]
  local title = marker .. " " .. position .. " " .. thread_number .. "-" .. seq
  local body = entry.create_body:gsub("@@TITLE@@", title)
  body = body:gsub("@@NEWID@@", uuid4())
  body = body:gsub("@@POSITION@@", tostring(1000000 + thread_number * 100000 + seq))
  creates_sent = creates_sent + 1
  return complete(entry.create_head, body)
end

function response(status, headers, body)
  responses = responses + 1
  if status ~= 200 then
    bad_status = bad_status + 1
    return
  end
  if body:find('"errors"%s*:%s*%[%s*{') then
    graphql_errors = graphql_errors + 1
    return
  end
  if body:find('"createTask"', 1, true) then
    local id = body:match('"' .. id_key .. '"%s*:%s*"([^"]+)"')
    local entry = body:match('"title"%s*:%s*"' .. marker .. ' (%d+) ')
    if id and entry then
      created = created + 1
      last = last + 1
      queue[last] = { id = id, entry = tonumber(entry) }
    else
      malformed = malformed + 1
    end
  elseif body:find('"' .. updated_status .. '"', 1, true) then
    updated = updated + 1
  else
    malformed = malformed + 1
  end
end

function done(summary, latency, requests)
  local totals = {
    responses = 0, bad_status = 0, graphql_errors = 0, creates_sent = 0, updates_sent = 0,
    created = 0, updated = 0, malformed = 0, queued = 0,
  }
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do
      if name == "queued" then
        totals.queued = totals.queued + thread:get("last") - thread:get("first") + 1
      else
        totals[name] = totals[name] + thread:get(name)
      end
    end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"responses":%d,"non_200":%d,"graphql_errors":%d,' ..
    '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"status_errors":%d,' ..
    '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p95":%d,"p99":%d},' ..
    '"writes":{"creates_sent":%d,"updates_sent":%d,"created":%d,"updated":%d,"malformed":%d,"queued":%d}}\n',
    summary.requests, summary.duration, summary.bytes, totals.responses, totals.bad_status, totals.graphql_errors,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99),
    totals.creates_sent, totals.updates_sent, totals.created, totals.updated, totals.malformed, totals.queued))
end
