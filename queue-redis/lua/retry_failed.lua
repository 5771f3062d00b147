-- retry_failed: moves failed jobs of one lane back to ready with fresh attempts and no lost
-- leases. They keep their errors: the last one (err) and the history (errs), which their next
-- failures add to. A job cancelled while it ran whose lease would not have ended yet (its ready
-- time, set by cancel.lua, is ahead) is scheduled for then instead: its run may still be going.
-- Its id also goes to the queue's revoked set with that time, so a dispatch of the id, or of
-- its unique key, after the retried job is removed before it runs still waits for that run.
-- KEYS: the lane key set (lib.lua), then 20 the queue's revoked set (ZSET, delete.lua).
-- ARGV[1]: job name, then ids (oldest failure first)
-- Returns: how many jobs moved.
-- Reads first, then writes: the failed list loses the moved ids in one pass (LREM per id
-- would scan the list once per job).
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
local envs = call_many('HMGET', q.data, ids)
local moved, envs_out, plain, ranked, gone = {}, {}, {}, {}, {}
local later_out, later_ids, due_out = {}, {}, {}
local now = nil
for i, id in ipairs(ids) do
  local j = parse_env(envs[i])
  if j and j.failed ~= '0' and j.name == ARGV[1] and not gone[id] then
    gone[id] = true
    j.att = 0
    j.failed = '0'
    now = now or now_ms()
    moved[#moved + 1] = id
    local revoked = tonumber(j.ready)
    if revoked and revoked > now then
      later_ids[#later_ids + 1] = id
      later_out[#later_out + 1] = id
      later_out[#later_out + 1] = pack_env(j)
      due_out[#due_out + 1] = revoked
      due_out[#due_out + 1] = id
    else
      j.ready = fmt(now)
      envs_out[#envs_out + 1] = id
      envs_out[#envs_out + 1] = pack_env(j)
      if j.pri == 0 then
        plain[#plain + 1] = id
      else
        ranked[#ranked + 1] = j.pri
        ranked[#ranked + 1] = id
      end
    end
  end
end
if #moved == 0 then return 0 end
local kept = nil
if #moved > 16 then
  kept = {}
  for _, id in ipairs(redis.call('LRANGE', q.failed, 0, -1)) do
    if not gone[id] then kept[#kept + 1] = id end
  end
end
local scored = back_of_priority(ranked)
call_many('HSET', q.data, envs_out)
call_many('HSET', q.later, later_out)
call_many('HDEL', q.data, later_ids)
call_many('ZADD', l.sched, due_out)
if #due_out > 0 then
  call_many('ZADD', KEYS[20], due_out)
  local latest = 0
  for i = 1, #due_out, 2 do latest = math.max(latest, due_out[i]) end
  hold_revoked(KEYS[20], now, latest)
end
call_many('HDEL', q.lost, moved)
call_many('RPUSH', l.ready, plain)
call_many('ZADD', l.prio, scored)
if kept then
  redis.call('DEL', q.failed)
  call_many('RPUSH', q.failed, kept)
else
  for _, id in ipairs(moved) do redis.call('LREM', q.failed, 1, id) end
end
redis.call('SADD', q.lanes, ARGV[1])
wake(l.wake)
return #moved
