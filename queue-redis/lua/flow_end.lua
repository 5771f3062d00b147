-- KEYS: see flow_lib.lua.
-- ARGV[1]: budget of edges to follow  ARGV[2]: number of steps n, then per step 5 values:
-- step, state (succeeded | failed | cancelled), 1 when the next value is given, the value
-- (succeeded) or the error, the fencing token of the run that ended ('' when not a run's).
-- Records the steps' ends, in order, and releases their dependents. Returns
-- {more, changed...}: changed is 0 for a step that had ended already, for a run's end at or
-- below the step's floor (a run from before the step was reopened), or when the workflow is
-- gone; more is 1 while steps are ready or ends are left to pass on.
local n = tonumber(ARGV[2])
local out = {0}
if redis.call('EXISTS', K.meta) == 0 then
  for i = 1, n do out[i + 1] = 0 end
  return out
end
for i = 0, n - 1 do
  local b = 3 + i * 5
  local name, outcome, given, text, token = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
  local state = redis.call('HGET', K.st, name)
  local stale = false
  if token ~= '' then
    local floor = redis.call('HGET', K.floor, name)
    stale = floor ~= false and tonumber(token) <= tonumber(floor)
  end
  if not state or is_ended(state) or stale then
    out[i + 2] = 0
  else
    if given ~= '1' then text = nil end
    if outcome == 'succeeded' then
      finish(name, 'succeeded', nil, text)
    else
      finish(name, outcome, text or outcome, nil)
    end
    out[i + 2] = 1
  end
end
propagate(tonumber(ARGV[1]))
if has_work() then out[1] = 1 end
return out
