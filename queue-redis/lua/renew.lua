-- renew: extends the leases of running jobs.
-- KEYS: the lane key set (lib.lua).
-- ARGV[1]: lease ms, then id, token, id, token, ...
-- Returns: {1 or 0, ...} per job: 1 when the lease is still held and was extended.
-- A lease belongs to a reserve call's batch: renewing one held job renews its batch.
write_at_maxmemory()
local deadline = now_ms() + tonumber(ARGV[1])
local ids, held, toks = check_leases(2, #ARGV)
local out, args, seen = {}, {}, {}
for i = 1, #ids do
  out[i] = held[i] and 1 or 0
  if held[i] and not seen[toks[i]] then
    seen[toks[i]] = true
    args[#args + 1] = deadline
    args[#args + 1] = toks[i]
  end
end
call_many('ZADD', l.leases, args, 'XX')
return out
