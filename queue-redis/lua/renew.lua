-- renew: extends the leases of running jobs.
-- KEYS: the lane key set (lib.lua).
-- ARGV[1]: lease ms, then id, token, id, token, ...
-- Returns: {1 or 0, ...} per job: 1 when the lease is still held and was extended.
local deadline = now_ms() + tonumber(ARGV[1])
local ids, held = check_leases(2, #ARGV)
local out, args = {}, {}
for i, id in ipairs(ids) do
  out[i] = held[i] and 1 or 0
  if held[i] then
    args[#args + 1] = deadline
    args[#args + 1] = id
  end
end
if #args > 0 then redis.call('ZADD', l.active, 'XX', unpack(args)) end
return out
