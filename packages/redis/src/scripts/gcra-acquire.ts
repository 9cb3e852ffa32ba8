/**
 * gcra-acquire: all-or-nothing GCRA across N limits, on the server's clock.
 *
 * KEYS[1..N]  the TAT key of each limit (same hash slot on Redis Cluster)
 * ARGV[1]     cost, units (>= 0; 0 peeks without charging)
 * ARGV[2]     now in epoch ms, or '' to read the server's `TIME` (µs precision)
 * ARGV[3i]    for limit i (1-based), three values starting at ARGV[3i]:
 *             its interval `perMs / rate` (computed by the client and sent
 *             as the shortest text that reads back as the same double, so it
 *             is the double gcra() uses), burst, and the key's `PX` when it
 *             is charged from fresh: `ceil(cost * interval) + 1`
 * Returns     a binary string: for each limit, the 8 bytes of its "behind"
 *             (`struct.pack('<d')`: how far its TAT is ahead of now, in ms,
 *             0 for a fresh key, before this request), followed by one byte
 *             `!` when the request was refused (nothing was charged).
 *
 * The script decides and charges; the client derives the decision's numbers
 * (remaining, retryAfterMs, resetAfterMs, limitedBy) from each limit's
 * behind, the rules and the cost, with the same arithmetic on the same
 * doubles, so they are exact (no rounding to an integer on the way), and the
 * server does none of it. Why it is shaped this way, measured per call with
 * `INFO commandstats` on Redis 7.0 (one acquisition at a time):
 *
 * - A reply table costs the server about 0.7 µs (Redis inspects it field by
 *   field); one string costs almost nothing.
 * - A Lua number passed to `redis.call` is formatted with `%.17g` (about
 *   0.5 µs): the `PX` of a fresh key (every key of a limit that is not
 *   saturated) is computed by the client and sent as text; only a key
 *   whose TAT is still ahead of now has its `PX` computed here.
 * - `SET … PX` replaces the value and the expiry (about 0.45 µs more than an
 *   in-place write): a key stores, after its TAT, a time before which it
 *   cannot expire (`now + PX - 1` when it was set, in ms; the 1 ms covers the
 *   server's whole-ms expiry clock). While the new TAT is no later than that,
 *   the TAT is overwritten in place (`SETRANGE`), which keeps the expiry;
 *   otherwise the key is set again with its `PX`. The expiry so stays between
 *   the TAT and what a fresh `SET … PX` would have given.
 * - The decision itself is `gcra()` of `batchflight/rate-limit`, step by step
 *   (relative to now, with its `GCRA_TOLERANCE_MS` of 1e-3 ms); the
 *   conformance suite compares the store with it on random sequences.
 *
 * A charged key expires when its TAT passes (a TAT in the past equals a fresh
 * key), within a few ms, so idle keys cost no memory. A value is 16 bytes:
 * the TAT and that expiry bound as doubles (`struct.pack('<dd')`), so the TAT
 * reads back as the same double: fractional intervals (1000 / 3 ms)
 * accumulate no drift, and no `%.17g` is paid. Values written by earlier
 * versions stay valid: 8 bytes (the TAT alone) and decimal text (`%.17g`).
 * Text is never 8 characters long for a TAT from 1970-01-02 on; a text of 16
 * characters ends with a digit (byte <= 57), while the last byte of the
 * 16-byte form is the high byte of a double >= 1 (>= 63).
 *
 * One limit (the common case) takes a straight path: no tables.
 */
export const GCRA_ACQUIRE = `
local now
if ARGV[2] == '' then
  local t = redis.call('TIME')
  now = t[1] * 1000 + t[2] / 1000
else
  now = tonumber(ARGV[2])
end
-- Work relative to now, as gcra() does: an epoch in ms (~1.9e12) keeps only
-- ~0.2 µs of precision, so absolute TATs would round a fit into a refusal.
local cost = tonumber(ARGV[1])
local pack, unpack = struct.pack, struct.unpack
if #KEYS == 1 then
  local interval = tonumber(ARGV[3])
  local behind, lives = 0, -1
  local stored = redis.call('GET', KEYS[1])
  if stored then
    local s, n = nil, #stored
    if n == 16 and stored:byte(16) > 57 then s, lives = unpack('<dd', stored)
    elseif n == 8 then s = unpack('<d', stored)
    else s = tonumber(stored) end
    if s > now then behind = s - now end
  end
  local newBehind = behind + cost * interval
  if newBehind > ARGV[4] * interval + 1e-3 then return pack('<d', behind) .. '!' end
  if cost > 0 then
    local tat = now + newBehind
    if tat <= lives then
      redis.call('SETRANGE', KEYS[1], '0', pack('<d', tat))
    else
      local px = ARGV[5]
      if behind > 0 then px = math.ceil(newBehind) + 1 end
      redis.call('SET', KEYS[1], pack('<dd', tat, now + px - 1), 'PX', px)
    end
  end
  -- A fresh key (the common case) answers with a constant: no pack, no new string.
  if behind == 0 then return '\\0\\0\\0\\0\\0\\0\\0\\0' end
  return pack('<d', behind)
end
local behinds, newBehinds, fresh = {}, {}, {}
local allowed = true
for i = 1, #KEYS do
  local base = 3 * i
  local interval = tonumber(ARGV[base])
  local behind = 0
  local stored = redis.call('GET', KEYS[i])
  if stored then
    local s, n = nil, #stored
    if n == 16 and stored:byte(16) > 57 then s = unpack('<dd', stored)
    elseif n == 8 then s = unpack('<d', stored)
    else s = tonumber(stored) end
    if s > now then behind = s - now end
  end
  local newBehind = behind + cost * interval
  behinds[i] = pack('<d', behind)
  newBehinds[i] = newBehind
  fresh[i] = behind == 0
  if newBehind > ARGV[base + 1] * interval + 1e-3 then allowed = false end
end
if not allowed then return table.concat(behinds) .. '!' end
if cost > 0 then
  for i = 1, #KEYS do
    local b = newBehinds[i]
    local px = ARGV[3 * i + 2]
    if not fresh[i] then px = math.ceil(b) + 1 end
    redis.call('SET', KEYS[i], pack('<dd', now + b, now + px - 1), 'PX', px)
  end
end
return table.concat(behinds)
`;
