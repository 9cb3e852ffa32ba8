/**
 * gcra-acquire: all-or-nothing GCRA across N limits, on the server's clock.
 *
 * KEYS[1..N]  the TAT key of each limit (same hash slot on Redis Cluster)
 * ARGV[1]     cost, units (>= 0; 0 peeks without charging)
 * ARGV[2]     now in epoch ms, or '' to read the server's `TIME` (µs precision)
 * ARGV[3i]    for limit i (1-based), three values starting at ARGV[3i]:
 *             rate, perMs, burst
 * Returns     { allowed (1|0), retryAfterMs, remaining, resetAfterMs, limitedBy }:
 *             retryAfterMs and resetAfterMs as strings (`%.17g`), since a Lua
 *             number reaches the client truncated to an integer; remaining
 *             and limitedBy (0-based, -1 when allowed) as integers.
 *
 * Mirrors `gcra()` of `batchflight/rate-limit` step by step (relative to
 * now, with its `GCRA_TOLERANCE_MS` of 1e-3 ms) (the conformance
 * suite compares them on random sequences). A charged key expires when its
 * TAT passes (a TAT in the past equals a fresh key), so idle keys cost no
 * memory. TATs are stored with 17 significant digits: fractional intervals
 * (1000 / 3 ms) accumulate no drift.
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
    local s = tonumber(stored)
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
      redis.call('SET', KEYS[i], string.format('%.17g', now + b), 'PX', math.ceil(b) + 1)
    end
  end
  return { 1, '0', remCharged, string.format('%.17g', resetCharged), -1 }
end
return { 0, string.format('%.17g', retry), remPeek, string.format('%.17g', resetPeek), limitedBy }
`;
