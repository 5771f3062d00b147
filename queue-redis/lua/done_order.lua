-- done_order: the order of a queue's kept completed jobs, for the scripts that write their list
-- (complete.lua, clean.lua). The list (donelist) holds the newest at its tail, and its times
-- hash (donetime) holds a mark: the sentinel field of lib.lua, written by every completion call
-- that keeps jobs. A list kept by an earlier version held the newest at its head and no mark;
-- the first script that writes it turns it around, once, and marks it (a list of one entry or
-- none reads the same either way and is left unmarked until a completion). Positions (pages' cursors) stay: a job's
-- position counts back from the newest in both orders. list_done.lua reads an unmarked list
-- the old way. Turning a list around reads and writes all of it in one call: one time, as
-- long as keeping that many takes.
local function done_in_order(done, times, mark)
  if redis.call('HEXISTS', times, mark) == 1 or redis.call('LLEN', done) < 2 then return end
  local ids = redis.call('LRANGE', done, 0, -1)
  local n = #ids
  redis.call('DEL', done)
  -- From the oldest (the old tail), at most 1,000 values per command (unpack's limit is ~8000).
  for last = n, 1, -1000 do
    local chunk, k = {}, 0
    for i = last, math.max(last - 999, 1), -1 do
      k = k + 1
      chunk[k] = ids[i]
    end
    redis.call('RPUSH', done, unpack(chunk))
  end
  redis.call('HSET', times, mark, '')
end
