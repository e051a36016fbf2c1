-- Takes over the work of a node whose lease expired. KEYS[1]: its node lease, KEYS[2]: its
-- takeover lease; ARGV[1]: the token, ARGV[2]: length (ms). Returns 1 when this process now
-- holds the takeover (the caller recovers that node's work), 0 when the node is alive or
-- another process took it over.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
