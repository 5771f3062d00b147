-- heartbeat: records a live worker and drops expired ones from the index. Times are the
-- server's, so workers on machines with different clocks agree.
-- KEYS[1]: the workers index (ZSET id -> expiry ms)  KEYS[2]: this worker's record (string)
-- ARGV[1]: worker id  ARGV[2]: record (JSON)  ARGV[3]: time to live ms
-- Returns: 1
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ttl)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
return 1
