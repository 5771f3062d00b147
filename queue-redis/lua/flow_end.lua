-- KEYS: see flow_lib.lua.
-- ARGV[1]: step  ARGV[2]: succeeded | failed | cancelled  ARGV[3]: 1 when ARGV[4] is given
-- ARGV[4]: the value (succeeded) or the error  ARGV[5]: budget of edges to follow
-- Records the step's end and releases its dependents. Returns {changed, more}: changed is 0
-- when the step had ended already (or the workflow is gone); more is 1 while steps are ready
-- or ends are left to pass on.
if redis.call('EXISTS', K.meta) == 0 then return {0, 0} end
local name = ARGV[1]
local state = redis.call('HGET', K.st, name)
if not state or is_ended(state) then return {0, 0} end
local text = nil
if ARGV[3] == '1' then text = ARGV[4] end
if ARGV[2] == 'succeeded' then
  finish(name, 'succeeded', nil, text)
else
  finish(name, ARGV[2], text or ARGV[2], nil)
end
propagate(tonumber(ARGV[5]))
if has_work() then return {1, 1} end
return {1, 0}
