-- wrk script of `run.sh wrk`: each thread reads its share of the pre-signed requests
-- (line i goes to thread i mod THREADS), formats them all before the run, and sends each
-- exactly once. A thread that has sent its share sends only `GET /healthz` (never a replay,
-- which the engine would refuse and wrk would count as an error), and once every one of its
-- signed requests is answered it writes `thread-<id>` into WRK_DONE_DIR (when set) and stops
-- its loop. wrk 4.1's main thread sleeps the whole `-d` whatever its threads do, so the
-- harness waits for those files and ends wrk with SIGINT, on which it prints its figures.
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

local reqs, sent, answered, done = {}, 0, 0, false
local probe
function init(args)
  local file, nthreads = os.getenv("REQUESTS_FILE"), tonumber(os.getenv("THREADS") or "1")
  local i = 0
  for line in io.lines(file) do
    if i % nthreads == id then
      local ts, sig, body = line:match("^(%d+)\t(%x+)\t(.*)$")
      reqs[#reqs + 1] = wrk.format("POST", "/api/v1/webhook/notification", {
        ["Content-Type"] = "application/json",
        ["X-Webhook-Timestamp"] = ts,
        ["X-Webhook-Signature"] = sig,
      }, body)
    end
    i = i + 1
  end
  probe = wrk.format("GET", "/healthz")
end

-- wrk 4.x calls the first thread's request() once before the run, only to check what it
-- returns (script_verify_request, for its pipeline count), and never sends that answer; so
-- thread 0's first call gets the probe, or one signed request would be lost and never answered.
local verified = false
function request()
  if id == 0 and not verified then
    verified = true
    return probe
  end
  if sent < #reqs then
    sent = sent + 1
    return reqs[sent]
  end
  return probe
end

-- Answers to the probe are told apart by their body (`/healthz` names the Redis state; a
-- send's answer does not).
function response(status, headers, body)
  if done or body:find('"redis"', 1, true) then
    return
  end
  answered = answered + 1
  if answered >= #reqs then
    done = true
    local dir = os.getenv("WRK_DONE_DIR")
    if dir then
      local f = io.open(dir .. "/thread-" .. id, "w")
      if f then f:write(answered, "\n"); f:close() end
    end
    wrk.thread:stop()
  end
end
