/**
 * gcra-acquire: all-or-nothing GCRA across N limits, on the server's clock.
 *
 * KEYS[1..N]  the TAT key of each limit (same hash slot on Redis Cluster)
 * ARGV[1]     cost, units (>= 0; 0 peeks without charging)
 * ARGV[2]     now in epoch ms, or '' to read the server's `TIME` (µs precision)
 * ARGV[3i]    for limit i (1-based), three values starting at ARGV[3i]:
 *             rate, perMs, burst
 * Returns     { allowed (1|0), retryAfterMs, remaining, resetAfterMs, limitedBy }
 *             as strings (`%.17g`): a Lua number would reach the client
 *             truncated to an integer. limitedBy is 0-based, -1 when allowed.
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
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
else
  now = tonumber(ARGV[2])
end
local n = #KEYS
-- Work relative to now, as gcra() does: an epoch in ms (~1.9e12) keeps only
-- ~0.2 µs of precision, so absolute TATs would round a fit into a refusal.
local TOLERANCE = 1e-3
local behinds, newBehinds, intervals, windows = {}, {}, {}, {}
local allowed = true
local retry, limitedBy = 0, -1
local remaining, reset = math.huge, 0
for i = 1, n do
  local base = 3 * i
  local interval = tonumber(ARGV[base + 1]) / tonumber(ARGV[base])
  local window = tonumber(ARGV[base + 2]) * interval
  local stored = redis.call('GET', KEYS[i])
  local behind = 0
  if stored then
    local s = tonumber(stored)
    if s > now then behind = s - now end
  end
  local newBehind = behind + cost * interval
  behinds[i], newBehinds[i], intervals[i], windows[i] = behind, newBehind, interval, window
  local rem, rst
  if newBehind <= window + TOLERANCE then
    rem = math.floor((window - newBehind) / interval + 1e-9)
    rst = newBehind
  else
    local wait = newBehind - window
    if limitedBy == -1 or wait > retry then
      retry = wait
      limitedBy = i - 1
    end
    allowed = false
    rem = math.floor((window - behind) / interval + 1e-9)
    rst = behind
  end
  if rem < 0 then rem = 0 end
  if rem < remaining then remaining = rem end
  if rst > reset then reset = rst end
end
if allowed then
  if cost > 0 then
    for i = 1, n do
      local ttl = math.ceil(newBehinds[i]) + 1
      redis.call('SET', KEYS[i], string.format('%.17g', now + newBehinds[i]), 'PX', ttl)
    end
  end
  retry = 0
else
  -- Nothing was charged: report the other limits as they stand (a peek).
  remaining, reset = math.huge, 0
  for i = 1, n do
    local rem = math.floor((windows[i] - behinds[i]) / intervals[i] + 1e-9)
    if rem < 0 then rem = 0 end
    if rem < remaining then remaining = rem end
    if behinds[i] > reset then reset = behinds[i] end
  end
end
return {
  allowed and 1 or 0,
  string.format('%.17g', retry),
  string.format('%.17g', remaining),
  string.format('%.17g', reset),
  limitedBy,
}
`;
