-- Generic cell rate algorithm (a token bucket kept as one timestamp): permits for calls of
-- one provider credential, shared by every engine. Grants up to ARGV[3] permits at once so
-- a credential actor asks once per batch rather than once per call.
--
-- KEYS[1]  the credential's theoretical arrival time (µs, Redis server clock)
-- ARGV[1]  emission interval (µs between calls at the steady rate)
-- ARGV[2]  burst (calls allowed back to back)
-- ARGV[3]  permits wanted
-- Returns {granted, 0} when granted > 0, {0, ms until one permit} otherwise.
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * (tonumber(ARGV[2]) - 1)
local want = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
end
local room = math.floor((tolerance - (tat - now)) / interval) + 1
if room < 1 then
  return {0, math.ceil((tat - tolerance - now) / 1000)}
end
local granted = math.min(room, want)
tat = tat + granted * interval
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
return {granted, 0}
