/**
 * The Lua scripts of `RedisFlightStore`. A flight key `k` lives in one Cluster
 * slot through its hash tag: `<prefix>{f:k}:lease`, `:result`, `:fence`.
 * Completions and releases are published on the store's one channel as
 * `<type><key length>:<key><outcome>` (type `d` done, `r` released), so a
 * waiter needs no subscription round trip of its own.
 */

/**
 * flight-claim: take the lease, or report the outcome or the holder.
 *
 * KEYS[1]  lease   KEYS[2]  result   KEYS[3]  fence counter
 * ARGV[1]  a nonce unique to the claiming process
 * ARGV[2]  leaseMs
 * Returns  { 'd', outcome } | { 'l', token, fence } | { 'h', remaining lease ms }
 */
export const FLIGHT_CLAIM = `
local outcome = redis.call('GET', KEYS[2])
if outcome then return { 'd', outcome } end
local held = redis.call('PTTL', KEYS[1])
if held > 0 then return { 'h', held } end
-- A lease key without expiry (-1) was not written by this script: treat it as expired.
if held == -1 then redis.call('DEL', KEYS[1]) end
local fence = redis.call('INCR', KEYS[3])
-- The counter outlives many leases; a key idle that long starts over (tokens stay unique by nonce).
redis.call('PEXPIRE', KEYS[3], math.max(86400000, 4 * tonumber(ARGV[2])))
local token = fence .. ':' .. ARGV[1]
redis.call('SET', KEYS[1], token, 'NX', 'PX', ARGV[2])
return { 'l', token, fence }
`;

/**
 * flight-extend: extend the lease if it is still ours.
 *
 * KEYS[1]  lease
 * ARGV[1]  token   ARGV[2]  leaseMs
 * Returns  1 extended | 0 not ours any more
 */
export const FLIGHT_EXTEND = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/**
 * flight-complete: store the outcome, free the lease, tell the waiters.
 *
 * KEYS[1]  lease   KEYS[2]  result
 * ARGV[1]  token   ARGV[2]  outcome   ARGV[3]  resultTtlMs
 * ARGV[4]  channel ARGV[5]  message head (`d<len>:<key>`)
 * Returns  1 done | 0 the lease is not ours any more (nothing written)
 */
export const FLIGHT_COMPLETE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[4], ARGV[5] .. ARGV[2])
return 1
`;

/**
 * flight-release: free the lease without an outcome, tell the waiters.
 *
 * KEYS[1]  lease
 * ARGV[1]  token   ARGV[2]  channel   ARGV[3]  message (`r<len>:<key>`)
 * Returns  1 released | 0 not ours any more
 */
export const FLIGHT_RELEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`;
