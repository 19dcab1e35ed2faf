// The Lua scripts of the Redis work queues. Each state change is one script, so it is atomic against
// every other consumer and producer, and a server crash keeps all of it or none of it.
//
// Keys of a queue (base = <prefix>queue:<name>:):
//   base..'ready'    stream of the jobs that are waiting or leased, one entry per job with everything a
//                    delivery needs, so XREADGROUP alone delivers a job: j = the JSON array
//                    [enqueuedAt, id, headers, payload] (what never changes, one string to decode),
//                    f = from (JSON), a = attempts used before this entry. Its consumer group
//                    'workers' is the lease table: owner, idle time and delivery count per entry.
//   base..'ids'      set of every id ever enqueued: SADD is the idempotency check (done and dead ids
//                    stay taken)
//   base..'delayed'  sorted set id → due time (ms) of delayed jobs and retries
//   base..'dead'     sorted set id → failedAt, for dead() newest first
//   base..'job:'..id hash with a delayed or dead job's j, f, a (and error, failedAt) while it is out of
//                    the stream
//   base..'counts'   hash: done and moved; the other counts are derived (stream length, the group's
//                    pending count, sorted set sizes)
// A lease is (entry, owner, delivery count): taking over an expired lease (XAUTOCLAIM) changes the
// owner and increments the count, so a consumer that lost its lease can no longer ack, fail or renew.
// Scripts derive job keys from ids, which standalone Redis allows and Redis Cluster does not.
import { LUA_NOW } from './connection.ts';

export const GROUP = 'workers';

const HELPERS = `${LUA_NOW}
local GROUP = '${GROUP}'

-- The delivery (owner, count) still holds the entry's lease.
local function holds(stream, entry, consumer, deliveries)
  local p = redis.call('XPENDING', stream, GROUP, entry, entry, 1)
  return p[1] ~= nil and p[1][2] == consumer and p[1][4] == tonumber(deliveries)
end

-- Makes a job waiting: an entry carrying everything a consumer needs.
local function push(stream, j, f, a)
  redis.call('XADD', stream, '*', 'j', j, 'f', f, 'a', a)
end

-- The fields of a stream entry as a table.
local function fields(stream, entry)
  local list = redis.call('XRANGE', stream, entry, entry)[1][2]
  local map = {}
  for i = 1, #list, 2 do map[list[i]] = list[i + 1] end
  return map
end
`;

// KEYS: stream, delayed, ids. ARGV: job key prefix, then per job: id, the rest of j after enqueuedAt
// (`,"<id>",<headers>,<payload>]`), delayMs. Returns per job 1 when stored, 0 when its id is already
// taken in this queue (in any state).
const ENQUEUE = `${HELPERS}
local now = now_ms()
-- enqueuedAt comes from the server clock, like every due time, so all hosts agree.
local head = '[' .. now
local stored = {}
for i = 2, #ARGV, 3 do
  local id = ARGV[i]
  local added = redis.call('SADD', KEYS[3], id)
  stored[#stored + 1] = added
  if added == 1 then
    if ARGV[i + 2] == '0' then
      redis.call('XADD', KEYS[1], '*', 'j', head .. ARGV[i + 1], 'f', '[]', 'a', 0)
    else
      redis.call('HSET', ARGV[1] .. id, 'j', head .. ARGV[i + 1], 'f', '[]', 'a', 0)
      redis.call('ZADD', KEYS[2], now + tonumber(ARGV[i + 2]), id)
    end
  end
end
return stored
`;

// What a consumer runs besides its blocking reads: creates the group, makes due delayed jobs waiting,
// takes over leases idle longer than reclaimMs (their consumer died) and reads new entries.
// KEYS: stream, delayed. ARGV: job key prefix, consumer, want, reclaimMs ('' = skip), reclaim cursor.
// Returns {jobs, next due ('' = none), next cursor, server now}, each job {entry, fields, deliveries}.
const MAINTAIN = `${HELPERS}
local prefix, consumer, want = ARGV[1], ARGV[2], tonumber(ARGV[3])
-- Created at 0 so jobs enqueued before any consumer existed are read too.
pcall(redis.call, 'XGROUP', 'CREATE', KEYS[1], GROUP, '0', 'MKSTREAM')
local now = now_ms()
-- Bounded so one call stays short however many delays fell due at once; the rest follow next call.
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)) do
  local f = redis.call('HMGET', prefix .. id, 'j', 'f', 'a')
  push(KEYS[1], f[1], f[2], f[3])
  redis.call('DEL', prefix .. id)
  redis.call('ZREM', KEYS[2], id)
end
local jobs, cursor = {}, ARGV[5]
if ARGV[4] ~= '' then
  local claimed = redis.call('XAUTOCLAIM', KEYS[1], GROUP, consumer, ARGV[4], cursor, 'COUNT', want)
  cursor = claimed[1]
  for _, e in ipairs(claimed[2]) do
    local p = redis.call('XPENDING', KEYS[1], GROUP, e[1], e[1], 1)
    jobs[#jobs + 1] = {e[1], e[2], p[1][4]}
  end
end
if #jobs < want then
  local read = redis.call('XREADGROUP', 'GROUP', GROUP, consumer, 'COUNT', want - #jobs, 'STREAMS', KEYS[1], '>')
  if read then
    for _, e in ipairs(read[1][2]) do jobs[#jobs + 1] = {e[1], e[2], 1} end
  end
end
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return {jobs, first[2] or '', cursor, now}
`;

// KEYS: stream, counts. ARGV: consumer, lowest and highest entry id, then entry, deliveries per job.
// Returns per job 1 when done, 0 when the lease was lost (the job went to another delivery).
const ACK = `${HELPERS}
-- One XPENDING for the whole batch: this consumer's leases between the lowest and highest entry.
local held = {}
for _, p in ipairs(redis.call('XPENDING', KEYS[1], GROUP, ARGV[2], ARGV[3], 1000000, ARGV[1])) do
  held[p[1]] = p[4]
end
local settled, acked = {}, {}
for i = 4, #ARGV, 2 do
  if held[ARGV[i]] == tonumber(ARGV[i + 1]) then
    settled[#settled + 1] = ARGV[i]
    acked[#acked + 1] = 1
  else
    acked[#acked + 1] = 0
  end
end
if #settled > 0 then
  -- Deleted, not just acked: the stream holds only live jobs, so its length counts them.
  redis.call('XACK', KEYS[1], GROUP, unpack(settled))
  redis.call('XDEL', KEYS[1], unpack(settled))
  redis.call('HINCRBY', KEYS[2], 'done', #settled)
end
return acked
`;

// KEYS: job, stream, delayed, dead, counts, then for a next queue its stream and ids.
// ARGV: entry, consumer, deliveries, attempt, attempts, retry delay ms, error, id, from for the next
// queue (JSON). Returns 0 when the lease was lost, 1 retry scheduled, 2 moved to next, 3 dead.
const FAIL = `${HELPERS}
if not holds(KEYS[2], ARGV[1], ARGV[2], ARGV[3]) then return 0 end
local e = fields(KEYS[2], ARGV[1])
redis.call('XACK', KEYS[2], GROUP, ARGV[1])
redis.call('XDEL', KEYS[2], ARGV[1])
local now, id, attempt = now_ms(), ARGV[8], tonumber(ARGV[4])
if attempt < tonumber(ARGV[5]) then
  redis.call('HSET', KEYS[1], 'j', e.j, 'f', e.f, 'a', attempt, 'error', ARGV[7])
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[6]), id)
  return 1
end
if #KEYS > 5 then
  -- Same id, payload, headers and enqueuedAt (all in j); attempts start over there. A next queue that
  -- already holds this id keeps its own job, as enqueue would.
  if redis.call('SADD', KEYS[7], id) == 1 then push(KEYS[6], e.j, ARGV[9], 0) end
  redis.call('HINCRBY', KEYS[5], 'moved', 1)
  return 2
end
redis.call('HSET', KEYS[1], 'j', e.j, 'f', e.f, 'a', attempt, 'error', ARGV[7], 'failedAt', now)
redis.call('ZADD', KEYS[4], now, id)
return 3
`;

// Resets the idle time of the leases this consumer still holds, so XAUTOCLAIM leaves them alone.
// KEYS: stream. ARGV: consumer, then entry, deliveries per job. Returns the entries whose lease was lost.
const RENEW = `${HELPERS}
local claim, lost = {'XCLAIM', KEYS[1], GROUP, ARGV[1], 0}, {}
for i = 2, #ARGV, 2 do
  -- Checked first: XCLAIM alone would also take back a lease another consumer took over.
  if holds(KEYS[1], ARGV[i], ARGV[1], ARGV[i + 1]) then
    claim[#claim + 1] = ARGV[i]
  else
    lost[#lost + 1] = ARGV[i]
  end
end
if #claim > 5 then
  -- JUSTID leaves the delivery count, and so the lease, as it is.
  claim[#claim + 1] = 'JUSTID'
  redis.call(unpack(claim))
end
return lost
`;

// KEYS: job, stream, dead. ARGV: id. Returns 1 when requeued, 0 when the job is not dead.
const REQUEUE = `${HELPERS}
if not redis.call('ZSCORE', KEYS[3], ARGV[1]) then return 0 end
local f = redis.call('HMGET', KEYS[1], 'j', 'f')
push(KEYS[2], f[1], f[2], 0)
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
`;

// KEYS: stream, delayed, dead, counts. Returns {waiting, delayed, leased, done, moved, dead}.
const COUNTS = `
local length, leased = 0, 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  length = redis.call('XLEN', KEYS[1])
  for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
    for i = 1, #group, 2 do
      if group[i] == 'pending' then leased = group[i + 1] end
    end
  end
end
local c = redis.call('HMGET', KEYS[4], 'done', 'moved')
return {length - leased, redis.call('ZCARD', KEYS[2]), leased, tonumber(c[1] or 0), tonumber(c[2] or 0),
  redis.call('ZCARD', KEYS[3])}
`;

// KEYS: stream. ARGV: consumer. Forgets a closing consumer's name so names do not pile up in the
// group, unless it still holds entries: those must stay until their leases expire and are taken over.
const RETIRE = `${HELPERS}
-- pcall: without a stream or group there is no name to forget.
local ok, pending = pcall(redis.call, 'XPENDING', KEYS[1], GROUP, '-', '+', 1, ARGV[1])
if not ok or #pending > 0 then return 0 end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], GROUP, ARGV[1])
`;

export const QUEUE_SCRIPTS = {
  archlabEnqueue: ENQUEUE,
  archlabMaintain: MAINTAIN,
  archlabAck: ACK,
  archlabFail: FAIL,
  archlabRenew: RENEW,
  archlabRequeue: REQUEUE,
  archlabCounts: COUNTS,
  archlabRetire: RETIRE,
} as const;

/** The keys of one queue; job keys are `jobPrefix + id`. */
export interface QueueKeys {
  stream: string;
  delayed: string;
  dead: string;
  counts: string;
  ids: string;
  jobPrefix: string;
}
