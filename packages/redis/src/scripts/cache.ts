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
 * KEYS      none (the tag sets are named from ARGV[1], same slot)
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
