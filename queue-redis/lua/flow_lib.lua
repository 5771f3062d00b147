-- Shared by the flow_*.lua scripts: one workflow's keys and its state machine.
-- Every script of a workflow takes the same KEYS, all in the workflow's hash tag {p#flow:<id>}:
-- KEYS[1] meta (hash: state, kind, created, ended, total, succeeded, failed, cancelled,
--         skipped, rtotal = steps that are not join steps, rended = those that ended)
-- KEYS[2] steps (list: names in the order added)     KEYS[3] st (hash: name -> state)
-- KEYS[4] pend (hash: name -> prerequisites not ended) KEYS[5] spec (hash: name -> queue|job|prio|attempts)
-- KEYS[6] pay (hash: name -> payload)  KEYS[7] res (hash: name -> value)  KEYS[8] err (hash: name -> error)
-- KEYS[9] joins (list: join step names)  KEYS[10] jn (hash: join name -> policy)
-- KEYS[11] ready (list)  KEYS[12] roots (list: ready while building)  KEYS[13] handing (zset: name -> ms)
-- KEYS[14] cascade (list: ended steps whose end is still to pass on)
-- KEYS[15] bad (list: failed and cancelled steps)  KEYS[16] skip (list: skipped steps)
-- KEYS[17] floor (hash: name -> the fencing token at or below which a run's end is refused,
--          set when the step is reopened: its runs from before may still report)
-- Per step, in the same tag (named from KEYS[1]): <tag>:out:<name> (list of "p|dependent"),
-- <tag>:deps:<name> (list of "p|prerequisite"), <tag>:ign:<name> (list: failures run past),
-- and <tag>:parents (hash: step added at run time -> the step that added it).
-- Policies: f (fail the dependent: skip it), i (ignore: run anyway), r (remove the dependency).
local K = {
  meta = KEYS[1], steps = KEYS[2], st = KEYS[3], pend = KEYS[4], spec = KEYS[5],
  pay = KEYS[6], res = KEYS[7], err = KEYS[8], joins = KEYS[9], jn = KEYS[10],
  ready = KEYS[11], roots = KEYS[12], handing = KEYS[13], cascade = KEYS[14],
  bad = KEYS[15], skip = KEYS[16], floor = KEYS[17],
}
local base = string.sub(KEYS[1], 1, -6)
local function out_key(n) return base .. ':out:' .. n end
local function deps_key(n) return base .. ':deps:' .. n end
local function ign_key(n) return base .. ':ign:' .. n end

local function is_bad(s) return s == 'failed' or s == 'cancelled' or s == 'skipped' end
local function is_ended(s) return s == 'succeeded' or is_bad(s) end
local function is_join(n) return redis.call('HEXISTS', K.jn, n) == 1 end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function check_end()
  local m = redis.call('HMGET', K.meta, 'state', 'total', 'succeeded', 'failed', 'cancelled', 'skipped')
  if m[1] ~= 'running' then return end
  local bad = tonumber(m[4]) + tonumber(m[5]) + tonumber(m[6])
  if tonumber(m[3]) + bad == tonumber(m[2]) then
    local state = 'succeeded'
    if bad > 0 then state = 'failed' end
    redis.call('HSET', K.meta, 'state', state, 'ended', now_ms())
  end
end

-- Ends step `name` in `state`; its end is passed on by `propagate`.
local function finish(name, state, err, result)
  redis.call('HSET', K.st, name, state)
  if err then redis.call('HSET', K.err, name, err) end
  if result then redis.call('HSET', K.res, name, result) end
  redis.call('HINCRBY', K.meta, state, 1)
  if state == 'failed' or state == 'cancelled' then redis.call('RPUSH', K.bad, name) end
  if state == 'skipped' then redis.call('RPUSH', K.skip, name) end
  if not is_join(name) then redis.call('HINCRBY', K.meta, 'rended', 1) end
  redis.call('ZREM', K.handing, name)
  redis.call('RPUSH', K.cascade, name)
  check_end()
end

local function make_ready(name)
  redis.call('HSET', K.st, name, 'queued')
  if redis.call('HGET', K.meta, 'state') == 'building' then
    redis.call('RPUSH', K.roots, name)
  else
    redis.call('RPUSH', K.ready, name)
  end
end

-- Passes prerequisite `prereq`'s end (in `pstate`) to a waiting dependent.
local function apply(dep, policy, prereq, pstate)
  if redis.call('HGET', K.st, dep) ~= 'waiting' then return end
  if is_bad(pstate) then
    if policy == 'f' then
      finish(dep, 'skipped', 'prerequisite `' .. prereq .. '` did not succeed', nil)
      return
    end
    if policy == 'i' and not is_join(dep) then redis.call('RPUSH', ign_key(dep), prereq) end
  end
  if redis.call('HINCRBY', K.pend, dep, -1) <= 0 then make_ready(dep) end
end

-- Passes on ended steps until `budget` edges were followed (a step's edges all at once).
-- Returns true when ended steps remain to pass on.
local function propagate(budget)
  local done = 0
  while done < budget do
    local name = redis.call('LPOP', K.cascade)
    if not name then return false end
    local state = redis.call('HGET', K.st, name)
    local out = redis.call('LRANGE', out_key(name), 0, -1)
    for _, e in ipairs(out) do apply(string.sub(e, 3), string.sub(e, 1, 1), name, state) end
    done = done + #out + 1
    if not is_join(name) then
      local joins = redis.call('LRANGE', K.joins, 0, -1)
      for _, j in ipairs(joins) do apply(j, redis.call('HGET', K.jn, j), name, state) end
      done = done + #joins
    end
  end
  return redis.call('LLEN', K.cascade) > 0
end

local function has_work()
  return redis.call('LLEN', K.ready) > 0 or redis.call('LLEN', K.cascade) > 0
end
