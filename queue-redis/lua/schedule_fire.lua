-- schedule_fire: fires ticks of a schedule, each at most once: a compare-and-set on the
-- schedule's last fired tick that stores the ticks' jobs in the same step.
-- KEYS: the lane key set of the schedule's job (lib.lua), then
--   20: the queue's schedules hash  21: its schedule states hash (see schedule_put.lua)
-- ARGV[1]: schedule name  ARGV[2]: the definition JSON the ticks were computed from
-- ARGV[3]: job name  ARGV[4]: number of ticks n, then per tick (ascending):
--   tick ms, job id, priority, envelope
-- Returns: {'changed', stored definition or nil} when the stored definition is not ARGV[2]
-- (removed, replaced, or written as other text: the client compares what it means),
-- {'paused'} when paused, else {'fired', last tick ms, tick ms...} with the ticks this call
-- fired. A tick fires when it is after the last fired tick; its job is stored unless a job of
-- its id exists (then the tick still counts as fired). Reads and checks come first; the writes
-- (records, indexes, then the state) come last.
local defs, states = KEYS[20], KEYS[21]
local name = ARGV[1]
local stored = redis.call('HGET', defs, name)
if stored ~= ARGV[2] then return { 'changed', stored } end
local state = redis.call('HGET', states, name) or ''
local created, last, paused = string.match(state, '^(%d+)|(%d+)|%d+|(%d)$')
if not created then created, last, paused = '0', '0', '0' end
if paused == '1' then return { 'paused' } end
local newest = tonumber(last)
local n = tonumber(ARGV[4])
local fired, fresh, pris, envs = {}, {}, {}, {}
for i = 0, n - 1 do
  local b = 5 + i * 4
  local tick = tonumber(ARGV[b])
  if tick > newest then
    newest = tick
    fired[#fired + 1] = ARGV[b]
    local id = ARGV[b + 1]
    if redis.call('HEXISTS', q.data, id) == 0 and redis.call('HEXISTS', q.later, id) == 0 then
      fresh[#fresh + 1] = id
      pris[#pris + 1] = tonumber(ARGV[b + 2])
      envs[#envs + 1] = ARGV[b + 3]
    end
  end
end
local now = now_ms()
if #fresh > 0 then
  local first = redis.call('INCRBY', q.seq, #fresh) - #fresh + 1
  local data_args, order_args, ready_ids, prio_args = {}, {}, {}, {}
  for k, id in ipairs(fresh) do
    local seq = first + k - 1
    data_args[#data_args + 1] = id
    data_args[#data_args + 1] = envs[k]
    order_args[#order_args + 1] = id
    order_args[#order_args + 1] = fmt(seq)
    if pris[k] == 0 then
      ready_ids[#ready_ids + 1] = id
    else
      prio_args[#prio_args + 1] = fmt(prio_score(pris[k], seq))
      prio_args[#prio_args + 1] = id
    end
  end
  call_many('HSET', q.data, data_args)
  call_many('HSET', q.order, order_args)
  redis.call('SADD', q.lanes, ARGV[3])
  call_many('ZADD', l.prio, prio_args)
  call_many('RPUSH', l.ready, ready_ids)
  wake(l.wake)
end
if #fired > 0 then
  if created == '0' then created = fmt(now) end
  redis.call('HSET', states, name, created .. '|' .. fmt(newest) .. '|' .. fmt(now) .. '|0')
end
local out = { 'fired', fmt(newest) }
for _, t in ipairs(fired) do out[#out + 1] = t end
return out
