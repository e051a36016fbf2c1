-- Claims an idempotency key for one request, or reports what is already there.
--
-- KEYS[1]  the key's entry
-- ARGV[1]  the pending marker of this request (unique)
-- ARGV[2]  how long the marker lives if the request never finishes (ms)
-- Returns {0} when claimed, {1, value} when an entry exists (a pending marker or an answer).
local v = redis.call('GET', KEYS[1])
if v then
  return {1, v}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {0}
