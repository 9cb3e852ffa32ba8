/**
 * gcra-acquire: all-or-nothing GCRA across N limits, on the server's clock.
 *
 * KEYS[1..N]  the TAT key of each limit (same hash slot on Redis Cluster)
 * ARGV[1]     cost, units (>= 0; 0 peeks without charging)
 * ARGV[2]     now in epoch ms, or '' to read the server's `TIME` (µs precision)
 * ARGV[3i]    for limit i (1-based), three values starting at ARGV[3i]:
 *             rate, perMs, burst
 * Returns     { allowed (1|0), retryAfterNs, remaining, resetAfterNs, limitedBy },
 *             all integers: a Lua number reaches the client truncated to an
 *             integer, so the two durations travel in nanoseconds (rounded;
 *             the client divides by 1e6), which costs no `string.format` and
 *             keeps sub-microsecond precision; limitedBy is 0-based, -1 when
 *             allowed.
 *
 * Mirrors `gcra()` of `batchflight/rate-limit` step by step (relative to
 * now, with its `GCRA_TOLERANCE_MS` of 1e-3 ms) (the conformance
 * suite compares them on random sequences). A charged key expires when its
 * TAT passes (a TAT in the past equals a fresh key), so idle keys cost no
 * memory. A TAT is stored as the 8 bytes of its double (`struct.pack('<d')`),
 * so it reads back as the same double: fractional intervals (1000 / 3 ms)
 * accumulate no drift, and no `%.17g` formatting (glibc `snprintf`, the
 * costliest step of the script) is paid per acquisition. A value of another
 * length is read as a decimal number, so TATs written by earlier versions
 * (`%.17g` text, 9 characters or more for any TAT from 1970-01-02 on) stay
 * valid.
 *
 * One limit (the common case) takes a straight path: no tables, no
 * aggregates, and a refusal returns before computing what only an admission
 * needs. It computes exactly what the general loop computes for N = 1.
 */
export const GCRA_ACQUIRE = `
local cost = tonumber(ARGV[1])
local now
if ARGV[2] == '' then
  local t = redis.call('TIME')
  now = t[1] * 1000 + t[2] / 1000
else
  now = tonumber(ARGV[2])
end
-- Work relative to now, as gcra() does: an epoch in ms (~1.9e12) keeps only
-- ~0.2 µs of precision, so absolute TATs would round a fit into a refusal.
local floor = math.floor
local pack, unpack = struct.pack, struct.unpack
if #KEYS == 1 then
  local interval = ARGV[4] / ARGV[3]
  local window = ARGV[5] * interval
  local behind = 0
  local stored = redis.call('GET', KEYS[1])
  if stored then
    local s
    if #stored == 8 then s = unpack('<d', stored) else s = tonumber(stored) end
    if s > now then behind = s - now end
  end
  local newBehind = behind + cost * interval
  if newBehind > window + 1e-3 then
    local rp = floor((window - behind) / interval + 1e-9)
    if rp < 0 then rp = 0 end
    return { 0, floor((newBehind - window) * 1e6 + 0.5), rp, floor(behind * 1e6 + 0.5), 0 }
  end
  if cost > 0 then
    redis.call('SET', KEYS[1], pack('<d', now + newBehind), 'PX', math.ceil(newBehind) + 1)
  end
  local rc = floor((window - newBehind) / interval + 1e-9)
  if rc < 0 then rc = 0 end
  return { 1, 0, rc, floor(newBehind * 1e6 + 0.5), -1 }
end
local newBehinds = {}
local allowed = true
local retry, limitedBy = 0, -1
-- Two aggregates: as charged (when every limit admits) and as they stand (a refusal charges none).
local remCharged, resetCharged, remPeek, resetPeek
for i = 1, #KEYS do
  local base = 3 * i
  local interval = ARGV[base + 1] / ARGV[base]
  local window = ARGV[base + 2] * interval
  local behind = 0
  local stored = redis.call('GET', KEYS[i])
  if stored then
    local s
    if #stored == 8 then s = unpack('<d', stored) else s = tonumber(stored) end
    if s > now then behind = s - now end
  end
  local newBehind = behind + cost * interval
  newBehinds[i] = newBehind
  if newBehind > window + 1e-3 then
    local wait = newBehind - window
    if limitedBy == -1 or wait > retry then
      retry = wait
      limitedBy = i - 1
    end
    allowed = false
  end
  local rc = floor((window - newBehind) / interval + 1e-9)
  if rc < 0 then rc = 0 end
  local rp = floor((window - behind) / interval + 1e-9)
  if rp < 0 then rp = 0 end
  if remCharged == nil or rc < remCharged then remCharged = rc end
  if remPeek == nil or rp < remPeek then remPeek = rp end
  if resetCharged == nil or newBehind > resetCharged then resetCharged = newBehind end
  if resetPeek == nil or behind > resetPeek then resetPeek = behind end
end
if allowed then
  if cost > 0 then
    for i = 1, #KEYS do
      local b = newBehinds[i]
      redis.call('SET', KEYS[i], pack('<d', now + b), 'PX', math.ceil(b) + 1)
    end
  end
  return { 1, 0, remCharged, floor(resetCharged * 1e6 + 0.5), -1 }
end
return { 0, floor(retry * 1e6 + 0.5), remPeek, floor(resetPeek * 1e6 + 0.5), limitedBy }
`;
