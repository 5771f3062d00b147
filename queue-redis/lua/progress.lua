-- progress: records a running job's progress.
-- KEYS: the lane key set (lib.lua).
-- ARGV[1]: id  ARGV[2]: token  ARGV[3]: progress as JSON
-- Returns: 1 when the token was current, else 0.
local j = parse_meta(redis.call('HGET', q.meta, ARGV[1]))
if not j or j.tok == '0' or j.tok ~= ARGV[2] then return 0 end
redis.call('HSET', q.prog, ARGV[1], ARGV[3])
return 1
