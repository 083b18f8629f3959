/**
 * The Lua scripts that change room state in Redis. Each runs atomically on the Redis server,
 * so a room's capacity holds however many nodes race (no seventh member by joining on two
 * nodes at once), and each publishes its event on the room's channel in the same step, so
 * every node sees a room's changes in the order they happened (`ver` counts them).
 *
 * A room is one hash, `<prefix>room:<id>`:
 *   m:<peerId> = <node>|<tokenHash>|<seq>   a live member, on that node, joined as number seq
 *   a:<peerId> = <tokenHash>|<untilMs>      away: reclaimable with its token until untilMs
 *   p:<peerId> = <json>                     the member's parked message for the next joiner
 *   seq, ver                                join counter (order of peers), event counter
 *   k                                       a team room's key (checked against the id by the
 *                                           node before the join; gone with the room)
 * `<prefix>node:<node>` is the set of rooms with members on a node; `<prefix>nodes` a sorted
 * set of node heartbeats (ms). Channel `<prefix>rc:<id>` carries a room's events:
 *   J|ver|peerId|parkedBy,…|node   joined (parkedBy: members whose parked message it took)
 *   L|ver|peerId                   left
 *   R|ver|peerId|node              resumed on `node` with its old socket still counted live
 *   A|ver|peerId||node             re-asserted by its node after Redis came back (SYNC_SCRIPT)
 * (Signals between nodes go on the receiving node's channel `<prefix>nc:<node>`, batched, through
 * RELAY_SCRIPT; see redis-rooms.ts.)
 * Keys are built inside the scripts, so this is for a single Redis (with replicas or
 * Sentinel), not Redis Cluster.
 */

/** Shared helpers: parse the room hash into live members (sorted by seq) and away peers. */
const READ_ROOM = `
local function split(s)
  local out = {}
  for part in string.gmatch(s .. '|', '([^|]*)|') do out[#out + 1] = part end
  return out
end
local function read_room(room, now)
  local all = redis.call('HGETALL', room)
  local live, away = {}, {}
  for i = 1, #all, 2 do
    local f, v = all[i], all[i + 1]
    local kind, pid = string.sub(f, 1, 2), string.sub(f, 3)
    if kind == 'm:' then
      local p = split(v)
      live[#live + 1] = { pid = pid, node = p[1], th = p[2], seq = tonumber(p[3]) }
    elseif kind == 'a:' then
      local p = split(v)
      if tonumber(p[2]) <= now then redis.call('HDEL', room, f) else away[pid] = p[1] end
    end
  end
  table.sort(live, function(x, y) return x.seq < y.seq end)
  return live, away
end
local function find(live, pid)
  for i = 1, #live do if live[i].pid == pid then return live[i] end end
  return nil
end
local function reply(status, pid, ver, live, skip)
  local out = { status, pid, tostring(ver) }
  for i = 1, #live do
    if live[i].pid ~= skip then out[#out + 1] = live[i].pid; out[#out + 1] = live[i].node end
  end
  return out
end
`;

/**
 * KEYS: room, nodeRooms. ARGV: roomId, node, capacity, now, newPeerId, newTokenHash,
 * resumePeerId ('' for none), presentedTokenHash, ttlMs, channel, teamKey ('' for none).
 * Reply: { status, peerId, ver, (peerId, node)… } with status joined | resumed | seamless |
 * full | taken (the new peer id collided: pick another), then for `joined` the parked
 * messages handed over come after a '' marker as (fromPeerId, json)…, and for `seamless` the
 * node the member was on comes after a '' marker.
 */
export const JOIN_SCRIPT = `${READ_ROOM}
local room, noderooms = KEYS[1], KEYS[2]
local room_id, node, cap, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local new_pid, new_th, rpid, rth, ttl, chan = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local team_key = ARGV[11]
local live, away = read_room(room, now)
local function keep_key()
  if team_key ~= '' then redis.call('HSET', room, 'k', team_key) end
end
if rpid ~= '' then
  local old = find(live, rpid)
  if old ~= nil and old.th == rth then
    redis.call('HSET', room, 'm:' .. rpid, node .. '|' .. new_th .. '|' .. old.seq)
    redis.call('SADD', noderooms, room_id)
    local ver = redis.call('HINCRBY', room, 'ver', 1)
    redis.call('PUBLISH', chan, 'R|' .. ver .. '|' .. rpid .. '|' .. node)
    keep_key()
    redis.call('PEXPIRE', room, ttl)
    local was = old.node
    old.node = node
    local out = reply('seamless', rpid, ver, live, rpid)
    out[#out + 1] = ''
    out[#out + 1] = was
    return out
  end
  if away[rpid] ~= nil and away[rpid] == rth then
    if #live >= cap then return { 'full' } end
    redis.call('HDEL', room, 'a:' .. rpid)
    local seq = redis.call('HINCRBY', room, 'seq', 1)
    redis.call('HSET', room, 'm:' .. rpid, node .. '|' .. new_th .. '|' .. seq)
    redis.call('SADD', noderooms, room_id)
    local ver = redis.call('HINCRBY', room, 'ver', 1)
    redis.call('PUBLISH', chan, 'J|' .. ver .. '|' .. rpid .. '||' .. node)
    keep_key()
    redis.call('PEXPIRE', room, ttl)
    return reply('resumed', rpid, ver, live, rpid)
  end
end
if #live >= cap then return { 'full' } end
if find(live, new_pid) ~= nil or away[new_pid] ~= nil then return { 'taken' } end
local seq = redis.call('HINCRBY', room, 'seq', 1)
redis.call('HSET', room, 'm:' .. new_pid, node .. '|' .. new_th .. '|' .. seq)
redis.call('SADD', noderooms, room_id)
local parked, by = {}, {}
for i = 1, #live do
  local key = 'p:' .. live[i].pid
  local p = redis.call('HGET', room, key)
  if p then
    redis.call('HDEL', room, key)
    parked[#parked + 1] = live[i].pid
    parked[#parked + 1] = p
    by[#by + 1] = live[i].pid
  end
end
local ver = redis.call('HINCRBY', room, 'ver', 1)
redis.call('PUBLISH', chan, 'J|' .. ver .. '|' .. new_pid .. '|' .. table.concat(by, ',') .. '|' .. node)
keep_key()
redis.call('PEXPIRE', room, ttl)
local out = reply('joined', new_pid, ver, live, '')
out[#out + 1] = ''
for i = 1, #parked do out[#out + 1] = parked[i] end
return out
`;

/**
 * KEYS: room. ARGV: peerId, node, resumable ('1'/'0'), tokenHash, untilMs, ttlMs, channel.
 * Only the node that holds the member can remove it (it may have resumed elsewhere).
 */
export const LEAVE_SCRIPT = `
local room = KEYS[1]
local pid, node, resumable, th, untilms, ttl, chan = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local cur = redis.call('HGET', room, 'm:' .. pid)
if not cur or string.sub(cur, 1, #node + 1) ~= node .. '|' then return 0 end
redis.call('HDEL', room, 'm:' .. pid, 'p:' .. pid)
if resumable == '1' then redis.call('HSET', room, 'a:' .. pid, th .. '|' .. untilms) end
local ver = redis.call('HINCRBY', room, 'ver', 1)
redis.call('PUBLISH', chan, 'L|' .. ver .. '|' .. pid)
local left = 0
for _, f in ipairs(redis.call('HKEYS', room)) do
  local kind = string.sub(f, 1, 2)
  if kind == 'm:' or kind == 'a:' then left = left + 1 end
end
if left == 0 then redis.call('DEL', room) else redis.call('PEXPIRE', room, ttl) end
return 1
`;

/** KEYS: room. ARGV: peerId, node, json ('' to drop). */
export const PARK_SCRIPT = `
local room, pid, node, json = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local cur = redis.call('HGET', room, 'm:' .. pid)
if not cur or string.sub(cur, 1, #node + 1) ~= node .. '|' then return 0 end
if json == '' then redis.call('HDEL', room, 'p:' .. pid) else redis.call('HSET', room, 'p:' .. pid, json) end
return 1
`;

/**
 * After Redis came back (maybe restarted empty): make one room's members on this node be
 * exactly `(peerId, tokenHash)…`: add the missing ones (a restarted Redis lost them), drop
 * the ones this node no longer has (they left while Redis was away), telling the room.
 * A team room's key is written again too.
 * KEYS: room, nodeRooms. ARGV: roomId, node, ttlMs, channel, teamKey ('' for none),
 * (peerId, tokenHash)….
 */
export const SYNC_SCRIPT = `${READ_ROOM}
local room, noderooms = KEYS[1], KEYS[2]
local room_id, node, ttl, chan, team_key = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local want = {}
for i = 6, #ARGV, 2 do want[ARGV[i]] = ARGV[i + 1] end
local live = read_room(room, 0)
local have = {}
for i = 1, #live do
  local m = live[i]
  have[m.pid] = true
  if m.node == node and want[m.pid] == nil then
    redis.call('HDEL', room, 'm:' .. m.pid, 'p:' .. m.pid)
    local ver = redis.call('HINCRBY', room, 'ver', 1)
    redis.call('PUBLISH', chan, 'L|' .. ver .. '|' .. m.pid)
  end
end
local n = 0
for pid, th in pairs(want) do
  n = n + 1
  if not have[pid] then
    local seq = redis.call('HINCRBY', room, 'seq', 1)
    redis.call('HSET', room, 'm:' .. pid, node .. '|' .. th .. '|' .. seq)
    local ver = redis.call('HINCRBY', room, 'ver', 1)
    redis.call('PUBLISH', chan, 'A|' .. ver .. '|' .. pid .. '||' .. node)
  end
end
if n > 0 then
  if team_key ~= '' then redis.call('HSET', room, 'k', team_key) end
  redis.call('SADD', noderooms, room_id)
  redis.call('PEXPIRE', room, ttl)
else
  redis.call('SREM', noderooms, room_id)
end
return n
`;

/**
 * Removes the members of nodes whose heartbeat stopped before `deadBefore` (their clients
 * had the resume grace to come back on another node), telling their rooms.
 * KEYS: nodes. ARGV: deadBefore, prefix.
 */
export const REAP_SCRIPT = `
local nodes, dead_before, prefix = KEYS[1], ARGV[1], ARGV[2]
local dead = redis.call('ZRANGEBYSCORE', nodes, '-inf', '(' .. dead_before)
local reaped = 0
for _, node in ipairs(dead) do
  local noderooms = prefix .. 'node:' .. node
  for _, room_id in ipairs(redis.call('SMEMBERS', noderooms)) do
    local room = prefix .. 'room:' .. room_id
    local all = redis.call('HGETALL', room)
    local left = 0
    for i = 1, #all, 2 do
      local f, v = all[i], all[i + 1]
      local kind = string.sub(f, 1, 2)
      if kind == 'm:' and string.sub(v, 1, #node + 1) == node .. '|' then
        local pid = string.sub(f, 3)
        redis.call('HDEL', room, f, 'p:' .. pid)
        local ver = redis.call('HINCRBY', room, 'ver', 1)
        redis.call('PUBLISH', prefix .. 'rc:' .. room_id, 'L|' .. ver .. '|' .. pid)
        reaped = reaped + 1
      elseif kind == 'm:' or kind == 'a:' then
        left = left + 1
      end
    end
    if left == 0 then redis.call('DEL', room) end
  end
  redis.call('DEL', noderooms)
  redis.call('ZREM', nodes, node)
end
return reaped
`;

/**
 * One batch of signals for one node (signal-batch.ts), sent with replies off by
 * redis-publisher.ts. While that node is live it is published on the node's channel. A node is
 * live while its subscriber holds its live channel `<prefix>nl:<node>` (only that node
 * subscribes to it; a killed node's connection closes and Redis drops it at once; a draining
 * node leaves it first) and its heartbeat in `<prefix>nodes` is not older than the cutoff (a
 * node that vanished without its connections closing keeps its subscription until Redis
 * notices, minutes later; a node with no heartbeat at all, as in a Redis restarted empty, is
 * judged by its subscription alone). Otherwise nobody may read the batch: each of its records is kept in
 * its receiver's queue `<prefix>mq:<room>:<peer>` (a list of records) for the resume grace,
 * for whichever node holds that member next (the node it resumes on, or its own once it is
 * back: redis-relay.ts takes them), up to a size per node (`<prefix>nqb:<node>` counts the
 * bytes kept for it; the node reads it to see whether anything was kept for it).
 * KEYS: node channel, live channel, queue bytes, heartbeats. ARGV: batch, ttlMs, maxBytes, the
 * queues' key prefix (`<prefix>mq:`), the node's id, the oldest live heartbeat (ms).
 * A record is: to (22) | from (22) | room id length (1) | room id | frame length (4, BE) | frame.
 */
export const RELAY_SCRIPT = `
if redis.call('PUBSUB', 'NUMSUB', KEYS[2])[2] > 0 then
  local beat = redis.call('ZSCORE', KEYS[4], ARGV[5])
  if not beat or tonumber(beat) >= tonumber(ARGV[6]) then
    redis.call('PUBLISH', KEYS[1], ARGV[1])
    return 1
  end
end
local b = ARGV[1]
local bytes = redis.call('INCRBY', KEYS[3], #b)
redis.call('PEXPIRE', KEYS[3], ARGV[2])
if bytes > tonumber(ARGV[3]) then return 0 end
local n = #b
local o = 1
while o + 48 <= n do
  local f = o + 45 + string.byte(b, o + 44)
  if f + 3 > n then break end
  local l1, l2, l3, l4 = string.byte(b, f, f + 3)
  local e = f + 4 + ((l1 * 256 + l2) * 256 + l3) * 256 + l4
  if e - 1 > n then break end
  local key = ARGV[4] .. string.sub(b, o + 45, f - 1) .. ':' .. string.sub(b, o, o + 21)
  redis.call('RPUSH', key, string.sub(b, o, e - 1))
  redis.call('PEXPIRE', key, ARGV[2])
  o = e
end
return 0
`;

/**
 * Takes the records kept for some members (RELAY_SCRIPT): returns them, queue after queue,
 * each in the order it was kept, and deletes them, so no other node delivers them again.
 * KEYS: the members' queues.
 */
export const TAKE_SCRIPT = `
local out = {}
for _, key in ipairs(KEYS) do
  local records = redis.call('LRANGE', key, 0, -1)
  if #records > 0 then
    redis.call('DEL', key)
    for _, r in ipairs(records) do out[#out + 1] = r end
  end
end
return out
`;
