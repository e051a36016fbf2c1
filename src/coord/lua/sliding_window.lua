-- Sliding-window rate limit: at most ARGV[1] accepted requests in any ARGV[2] milliseconds.
-- Exact (no double bursts at window edges): the sorted set holds the time of every request
-- accepted within the window, scored by the Redis server's clock so engine clocks may differ.
--
-- KEYS[1]  sorted set of accepted request times (ms)
-- ARGV[1]  limit (requests per window)
-- ARGV[2]  window (ms)
-- ARGV[3]  a member unique to this request
-- Returns {1, 0} when accepted, {0, ms until a request would be accepted} when refused.
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 0}
end
-- Refused requests are not recorded: the oldest accepted one leaving the window frees a slot.
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(oldest[2]) + window - now}
