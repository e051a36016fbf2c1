-- Finishes a claim: stores the answer (or releases the key when ARGV[2] is empty), but only
-- if the entry is still this request's pending marker (it may have expired and been
-- claimed by a retry meanwhile).
--
-- KEYS[1]  the key's entry
-- ARGV[1]  the pending marker of this request
-- ARGV[2]  the answer to keep, or '' to release the key
-- ARGV[3]  how long the answer is kept (ms)
-- Returns 1 when done, 0 when the marker was no longer ours.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
