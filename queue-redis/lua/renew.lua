-- renew: extends the leases of running jobs.
-- KEYS: the lane key set (lib.lua).
-- ARGV[1]: lease ms, then id, token, id, token, ...
-- Returns: {1 or 0, ...} per job: 1 when the lease is still held and was extended.
local deadline = now_ms() + tonumber(ARGV[1])
local ids = {}
for i = 2, #ARGV, 2 do ids[#ids + 1] = ARGV[i] end
local metas = redis.call('HMGET', q.meta, unpack(ids))
local out, args = {}, {}
for i, id in ipairs(ids) do
  local j = parse_meta(metas[i])
  if j and j.tok ~= '0' and j.tok == ARGV[i * 2 + 1] then
    args[#args + 1] = deadline
    args[#args + 1] = id
    out[i] = 1
  else
    out[i] = 0
  end
end
if #args > 0 then redis.call('ZADD', l.active, 'XX', unpack(args)) end
return out
