-- wrk script of `kannel.sh`: Kannel's `sendsms` GET, a new recipient and text per request
-- (thread id and a counter), the same shape of message as presign.py writes for Jood.
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

local n = 0
local user = os.getenv("KANNEL_USER") or "load"
local pass = os.getenv("KANNEL_PASS") or "load"
function request()
  n = n + 1
  local k = id * 10000000 + n
  return wrk.format("GET", string.format(
    "/cgi-bin/sendsms?username=%s&password=%s&from=JOOD&to=%%2B96650%06d%d&text=Your+code+is+%d",
    user, pass, k % 1000000, 1 + k % 9, k))
end
