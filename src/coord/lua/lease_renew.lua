-- Renews leases held by this process. KEYS: the leases, ARGV[1]: the token, ARGV[2]: length
-- (ms). Returns how many were still this process's (and are renewed); a lease that expired or
-- went to another process is not touched.
local held = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    held = held + 1
  end
end
return held
