/**
 * The Lua scripts of `RedisCacheStore`. Every key of one store carries the
 * same hash tag (`<prefix>{cache}:…`), so the scripts may touch tag sets and
 * entries together on Redis Cluster. Requires Redis >= 7.0 (`PEXPIRETIME`).
 *
 * Layout: an entry is a hash `<prefix>{cache}:e:<key>` with field `d` (the
 * encoded entry) and, when tagged, `t` (its tags as a JSON array); a tag is a
 * set `<prefix>{cache}:t:<tag>` of entry keys, expiring with its last entry.
 */

/**
 * cache-set: replaces an entry and its tag memberships.
 *
 * KEYS[1]   the entry key
 * ARGV[1]   the encoded entry
 * ARGV[2]   staleUntil, epoch ms (integer): the entry expires then (PEXPIREAT)
 * ARGV[3]   the tag-set key prefix (`<prefix>{cache}:t:`)
 * ARGV[4..] the tags
 * Returns   1
 */
export const CACHE_SET = `
local old = redis.call('HGET', KEYS[1], 't')
if old then
  for _, tag in ipairs(cjson.decode(old)) do redis.call('SREM', ARGV[3] .. tag, KEYS[1]) end
end
redis.call('DEL', KEYS[1])
local at = tonumber(ARGV[2])
if #ARGV > 3 then
  local tags = {}
  for i = 4, #ARGV do
    tags[#tags + 1] = ARGV[i]
    local set = ARGV[3] .. ARGV[i]
    redis.call('SADD', set, KEYS[1])
    local expires = redis.call('PEXPIRETIME', set)
    if expires < 0 or expires < at then redis.call('PEXPIREAT', set, at) end
  end
  redis.call('HSET', KEYS[1], 'd', ARGV[1], 't', cjson.encode(tags))
else
  redis.call('HSET', KEYS[1], 'd', ARGV[1])
end
redis.call('PEXPIREAT', KEYS[1], at)
return 1
`;

/**
 * cache-delete: removes an entry, its tag memberships, and announces it.
 *
 * KEYS[1]   the entry key
 * ARGV[1]   the tag-set key prefix
 * ARGV[2]   the invalidation channel
 * ARGV[3]   the invalidation message
 * Returns   1 when there was an entry, else 0
 */
export const CACHE_DELETE = `
local old = redis.call('HGET', KEYS[1], 't')
if old then
  for _, tag in ipairs(cjson.decode(old)) do redis.call('SREM', ARGV[1] .. tag, KEYS[1]) end
end
local n = redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return n
`;

/**
 * cache-invalidate-tags: removes every entry carrying any of the tags, and
 * announces it. Entry keys are read from the tag sets (same hash slot).
 *
 * KEYS[1]   the first tag's set: it routes the script to the master of the
 *           store's slot on Redis Cluster (the other sets are named from
 *           ARGV[1] and ARGV[4..], same slot)
 * ARGV[1]   the tag-set key prefix
 * ARGV[2]   the invalidation channel
 * ARGV[3]   the invalidation message
 * ARGV[4..] the tags
 * Returns   the number of entries removed
 */
export const CACHE_INVALIDATE_TAGS = `
local removed = 0
for i = 4, #ARGV do
  local set = ARGV[1] .. ARGV[i]
  for _, key in ipairs(redis.call('SMEMBERS', set)) do
    local tags = redis.call('HGET', key, 't')
    if tags then
      for _, tag in ipairs(cjson.decode(tags)) do redis.call('SREM', ARGV[1] .. tag, key) end
    end
    removed = removed + redis.call('DEL', key)
  end
  redis.call('DEL', set)
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return removed
`;

/**
 * cache-clear-step: one step of a `SCAN` over the store's keys, removing
 * what it found; the last step announces the clear. Run where the store's
 * keys live: on Redis Cluster KEYS[1] routes the script to the one master
 * that owns the store's slot (every key carries the same hash tag), so the
 * scan covers that master alone, which holds every key of the store, and
 * each step is one round trip instead of a `SCAN` then an `UNLINK`.
 *
 * KEYS[1]   any key of the store's slot (routing only; not read)
 * ARGV[1]   the SCAN cursor ('0' to start)
 * ARGV[2]   the MATCH pattern (the store's escaped prefix, then '*')
 * ARGV[3]   the SCAN COUNT
 * ARGV[4]   the invalidation channel
 * ARGV[5]   the invalidation message
 * Returns   the next cursor; '0' when the scan is complete (and announced)
 */
export const CACHE_CLEAR_STEP = `
local page = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
local keys = page[2]
-- UNLINK in chunks: unpack() puts every argument on the Lua stack.
for i = 1, #keys, 500 do
  redis.call('UNLINK', unpack(keys, i, math.min(i + 499, #keys)))
end
if page[1] == '0' then redis.call('PUBLISH', ARGV[4], ARGV[5]) end
return page[1]
`;
