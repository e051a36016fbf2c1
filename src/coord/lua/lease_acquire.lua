-- Takes the lowest free node id. KEYS[1..n]: the node leases (node 0 first), KEYS[n+1..2n]:
-- their takeover leases (a node id whose work a live node has taken over stays taken).
-- ARGV[1]: this process's token, ARGV[2]: lease length (ms). Returns the node id or -1.
local n = #KEYS / 2
for i = 1, n do
  if redis.call('EXISTS', KEYS[i]) == 0 and redis.call('EXISTS', KEYS[n + i]) == 0 then
    redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
    return i - 1
  end
end
return -1
