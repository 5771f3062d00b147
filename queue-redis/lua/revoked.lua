-- Shared by delete.lua, purge.lua, retry_failed.lua and enqueue_unique.lua (put before them,
-- scripts/mod.rs).
-- Keeps the revoked set `key` until `until_ms`, its latest hold, at least: it expires when
-- every hold in it has passed, so dispatches with chosen ids stop looking in it (enqueue.lua
-- reads it only while it exists).
local function hold_revoked(key, now, until_ms)
  local pttl = redis.call('PTTL', key)
  if pttl < 0 or now + pttl < until_ms then redis.call('PEXPIREAT', key, until_ms) end
end
