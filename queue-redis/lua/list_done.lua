-- list_done: a window of a queue's kept completed jobs, newest or oldest first, after a
-- position. Read only.
-- KEYS: 1 done (LIST of ids, newest at the tail; '' where a deleted job was)  2 donepushed
-- (how many ids were ever pushed onto done)  3 donetime (HASH id -> "finished ms:started ms")
-- ARGV[1]: 'newest' or 'oldest'  ARGV[2]: the position listed last ('' to start at the end
-- of that order)  ARGV[3]: most entries to read  ARGV[4]: the mark of done's order: without it
-- in donetime, the list is as an earlier version kept it, newest at the head (done_order.lua)
-- Returns: { entries read, the last one's position, then per kept job: position, id, times }.
-- A job's position counts the ids pushed up to and including it, so it stays while newer
-- jobs are pushed at the tail and older ones trimmed at the head: the entry i places from the
-- newest (0: the newest; counted from the tail, or from the head in an unmarked list) is at
-- position pushed - i. O(page) plus the walk to the first index.
local pushed = tonumber(redis.call('GET', KEYS[2]) or '0')
local len = redis.call('LLEN', KEYS[1])
local newest, after, window = ARGV[1] == 'newest', tonumber(ARGV[2]), tonumber(ARGV[3])
local first, last
if newest then
  -- The next newest after `after` is at position after - 1.
  first = after and (pushed - after + 1) or 0
  if first < 0 then first = 0 end
  last = math.min(first + window - 1, len - 1)
else
  -- The next oldest after `after` is at position after + 1; one trimmed since starts at the
  -- oldest kept.
  first = after and (pushed - after - 1) or (len - 1)
  if first > len - 1 then first = len - 1 end
  last = math.max(first - window + 1, 0)
end
if len == 0 or first > len - 1 or first < 0 then return { 0, 0 } end
-- Places from the newest: lo the newest of the window, hi the oldest. ids holds them oldest
-- first: ids[k] is hi - (k - 1) places from the newest.
local lo, hi = math.min(first, last), math.max(first, last)
local ids
if redis.call('HEXISTS', KEYS[3], ARGV[4]) == 1 then
  ids = redis.call('LRANGE', KEYS[1], -(hi + 1), -(lo + 1))
else
  -- Newest at the head: places from the newest are indexes from the head.
  local newest_first = redis.call('LRANGE', KEYS[1], lo, hi)
  local n = #newest_first
  ids = {}
  for k = 1, n do ids[k] = newest_first[n + 1 - k] end
end
local live = {}
for _, id in ipairs(ids) do
  if id ~= '' then live[#live + 1] = id end
end
local times = {}
if #live > 0 then
  local got = redis.call('HMGET', KEYS[3], unpack(live))
  for i, id in ipairs(live) do times[id] = got[i] end
end
local out = { #ids, 0 }
local from, to, step = #ids, 1, -1
if not newest then from, to, step = 1, #ids, 1 end
for k = from, to, step do
  local id = ids[k]
  local position = pushed - (hi - k + 1)
  out[2] = position
  if id ~= '' and times[id] then
    out[#out + 1] = position
    out[#out + 1] = id
    out[#out + 1] = times[id]
  end
end
return out
