-- KEYS: see flow_lib.lua.  ARGV: names of steps whose jobs are stored in their lanes (at most 1000)
-- Forgets their hand-over. Returns how many were being handed.
if #ARGV == 0 then return 0 end
return redis.call('ZREM', K.handing, unpack(ARGV))
