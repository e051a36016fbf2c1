-- wrk script of `run.sh wrk`: each thread reads its share of the pre-signed requests
-- (line i goes to thread i mod THREADS), formats them all before the run, and sends each
-- exactly once; a thread that runs out stops, so no request is ever replayed.
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

local reqs, n = {}, 0
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
end

function request()
  n = n + 1
  if n > #reqs then
    wrk.thread:stop()
    n = #reqs
  end
  return reqs[n]
end
