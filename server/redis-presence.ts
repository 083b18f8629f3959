/**
 * The presence directory in Redis (with `REDIS_URL`, see presence-directory.ts): a client
 * registered on one node can be rung from any other.
 *
 *   <prefix>mb:<mailbox>     = <node>|<sessionId>   who receives rings for a mailbox (no TTL)
 *   <prefix>pmb:<node>       set of the mailboxes a node registered (to drop them when it dies)
 *   <prefix>pnodes           sorted set: node → last heartbeat (ms)
 *   <prefix>rb:k:<key>, rb:i:<ip>   ring token buckets (hash: tokens, at), expire when full
 *   <prefix>call:<callId>    a call id already rung, until its invite expires
 *   channel <prefix>pc:<node>  ring events for sessions on that node (JSON RingEvent)
 *   channel <prefix>pw         mailboxes coming and going, for watchers on every node:
 *                              `1<node>|<mailbox>` online, `0<node>|<mailbox>` offline
 *
 * A node dying: its registrations stop counting as soon as its heartbeat is older than
 * NODE_DEAD_MS (every lookup checks it), and the next reap (any node, every few seconds)
 * deletes them and tells every node's watchers they went offline. Redis restarted empty: each node writes its registrations again when it
 * reconnects. Redis unreachable: rings get `unavailable`; registrations made meanwhile are
 * written when it is back.
 */
import type { Logger } from './log.ts';
import type { PresenceDirectory, RemoteSession, RingEvent, RingLimits } from './presence-directory.ts';
import { connectRedis } from './redis-connection.ts';
import { randomId } from './rooms.ts';

export interface RedisDirectoryConfig extends RingLimits {
  redisUrl: string;
  redisPrefix: string;
  /** A lookup that Redis has not answered within this fails (the ring gets `unavailable`). */
  redisTimeoutMs: number;
}

const HEARTBEAT_MS = 2000;
/** A node whose heartbeat is older than this no longer receives rings. */
export const NODE_DEAD_MS = 10_000;
const REAP_EVERY = 3; // heartbeats

/** KEYS: mailbox key, nodes. ARGV: deadBefore. The holder, if its node is alive. */
const LOOKUP_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if not v then return false end
local node = string.match(v, '^([^|]*)|')
local beat = redis.call('ZSCORE', KEYS[2], node)
if not beat or tonumber(beat) < tonumber(ARGV[1]) then return false end
return v
`;

/**
 * KEYS: nodes, then mailbox keys. ARGV: deadBefore. The (1-based) positions among the mailbox
 * keys of those held by a live node.
 */
const ONLINE_SCRIPT = `
local dead_before = tonumber(ARGV[1])
local found = {}
for i = 2, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v then
    local beat = redis.call('ZSCORE', KEYS[1], string.match(v, '^([^|]*)|'))
    if beat and tonumber(beat) >= dead_before then found[#found + 1] = i - 1 end
  end
end
return found
`;

/**
 * KEYS: mailbox key, node's set. ARGV: value, mailbox, watch channel, offline message. Deletes
 * only our own registration, and then announces the mailbox offline (if another session took
 * it over meanwhile, it stays online).
 */
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
redis.call('SREM', KEYS[2], ARGV[2])
return 1
`;

/**
 * Two token buckets (caller key, client IP): take one token from each, or from neither.
 * KEYS: key bucket, ip bucket. ARGV: now, burst, perMs.
 */
const TAKE_SCRIPT = `
local now, burst, per_ms = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local function level(key)
  local b = redis.call('HMGET', key, 't', 'at')
  if not b[1] then return burst end
  return math.min(burst, tonumber(b[1]) + math.max(0, now - tonumber(b[2])) * per_ms)
end
local k, i = level(KEYS[1]), level(KEYS[2])
if k < 1 or i < 1 then return 0 end
local full_in = 0
for _, pair in ipairs({ { KEYS[1], k - 1 }, { KEYS[2], i - 1 } }) do
  redis.call('HSET', pair[1], 't', tostring(pair[2]), 'at', tostring(now))
  full_in = per_ms > 0 and (math.ceil((burst - pair[2]) / per_ms) + 1000) or 86400000
  redis.call('PEXPIRE', pair[1], full_in)
end
return 1
`;

/**
 * KEYS: nodes. ARGV: deadBefore, prefix, watch channel. Drops the registrations of dead nodes
 * and announces each as offline.
 */
const REAP_SCRIPT = `
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
local n = 0
for _, node in ipairs(dead) do
  local set = ARGV[2] .. 'pmb:' .. node
  for _, mb in ipairs(redis.call('SMEMBERS', set)) do
    local key = ARGV[2] .. 'mb:' .. mb
    local v = redis.call('GET', key)
    if v and string.sub(v, 1, #node + 1) == node .. '|' then
      redis.call('DEL', key)
      redis.call('PUBLISH', ARGV[3], '0' .. node .. '|' .. mb)
      n = n + 1
    end
  end
  redis.call('DEL', set)
  redis.call('ZREM', KEYS[1], node)
end
return n
`;

export function createRedisDirectory<S extends object>(
  config: RedisDirectoryConfig,
  log: Logger,
): PresenceDirectory<S> {
  const node = randomId();
  const prefix = config.redisPrefix;
  const nodesKey = `${prefix}pnodes`;
  const mySet = `${prefix}pmb:${node}`;
  const mbKey = (mailbox: string) => `${prefix}mb:${mailbox}`;
  const chan = (id: string) => `${prefix}pc:${id}`;
  const perMs = config.ringPerMin / 60_000;

  /** Mailboxes held by sessions on this node, and the sessions by their id. */
  const local = new Map<string, S>();
  const ids = new Map<S, string>();
  const byId = new Map<string, S>();
  let handler: (session: S | undefined, event: RingEvent) => void = () => {};
  const watchChan = `${prefix}pw`;
  let presenceHandler: (mailbox: string, online: boolean) => void = () => {};
  let closed = false;

  const { cmd, run, timed, keep, ...connection } = connectRedis(
    {
      url: config.redisUrl,
      name: 'presence',
      timeoutMs: config.redisTimeoutMs,
      onReady(again) {
        void beat();
        // A restarted Redis may have come back empty: write this node's registrations again.
        if (again) for (const [mailbox, session] of local) write(mailbox, session);
      },
    },
    log,
  );
  keep(chan(node), (raw: Buffer) => {
    let event: RingEvent;
    try {
      event = JSON.parse(raw.toString()) as RingEvent;
    } catch {
      return;
    }
    handler(byId.get(event.to), event);
  });
  keep(watchChan, (raw: Buffer) => {
    const message = raw.toString();
    const bar = message.indexOf('|');
    // Our own announcements: this node's watchers were told already.
    if (bar < 1 || message.slice(1, bar) === node) return;
    presenceHandler(message.slice(bar + 1), message[0] === '1');
  });

  function idOf(session: S): string {
    let id = ids.get(session);
    if (id === undefined) {
      id = randomId();
      ids.set(session, id);
      byId.set(id, session);
    }
    return id;
  }

  const quiet = (what: string) => (err: Error) => log.debug({ err: err.message }, `${what} not recorded`);

  function write(mailbox: string, session: S): void {
    if (!cmd.isReady) return; // written again when Redis is back (`ready`)
    cmd.sendCommand(['SET', mbKey(mailbox), `${node}|${idOf(session)}`]).catch(quiet('registration'));
    cmd.sendCommand(['SADD', mySet, mailbox]).catch(quiet('registration'));
  }

  let beats = 0;
  async function beat(): Promise<void> {
    if (closed || !cmd.isReady) return;
    beats++;
    try {
      const now = Date.now();
      await cmd.sendCommand(['ZADD', nodesKey, String(now), node]);
      if (beats % REAP_EVERY === 0) {
        const reaped = Number(
          await run(REAP_SCRIPT, [nodesKey], [String(now - NODE_DEAD_MS), prefix, watchChan]),
        );
        if (reaped > 0) log.info({ reaped }, 'removed the presence registrations of a dead node');
      }
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'presence heartbeat failed');
    }
  }
  const heartbeat = setInterval(() => void beat(), HEARTBEAT_MS);
  heartbeat.unref();

  return {
    set(mailbox, session) {
      local.set(mailbox, session);
      write(mailbox, session);
    },
    delete(mailbox, session) {
      if (local.get(mailbox) !== session) return;
      local.delete(mailbox);
      if (!cmd.isReady) return;
      run(
        RELEASE_SCRIPT,
        [mbKey(mailbox), mySet],
        [`${node}|${idOf(session)}`, mailbox, watchChan, `0${node}|${mailbox}`],
      ).catch(quiet('unregistration'));
    },
    get: (mailbox) => local.get(mailbox),
    announce(mailbox, online) {
      // Offline was announced by the release itself (only if the registration was still ours).
      if (!online || !cmd.isReady) return;
      cmd.sendCommand(['PUBLISH', watchChan, `1${node}|${mailbox}`]).catch(quiet('presence announcement'));
    },
    onPresence(h) {
      presenceHandler = h;
    },
    online(mailboxes) {
      const here = mailboxes.filter((id) => local.has(id));
      const elsewhere = mailboxes.filter((id) => !local.has(id));
      if (elsewhere.length === 0) return here;
      return timed(
        run(ONLINE_SCRIPT, [nodesKey, ...elsewhere.map(mbKey)], [String(Date.now() - NODE_DEAD_MS)]),
      ).then((found) => [...here, ...(found as number[]).map((i) => elsewhere[i - 1] as string)]);
    },
    async lookup(mailbox) {
      const found = await timed(
        run(LOOKUP_SCRIPT, [mbKey(mailbox), nodesKey], [String(Date.now() - NODE_DEAD_MS)]),
      );
      if (typeof found !== 'string') return undefined;
      const bar = found.indexOf('|');
      const at = found.slice(0, bar);
      const id = found.slice(bar + 1);
      if (at === node) return byId.get(id);
      return { node: at, id };
    },
    async takeRingToken(key, ip, now) {
      const ok = await timed(
        run(
          TAKE_SCRIPT,
          [`${prefix}rb:k:${key}`, `${prefix}rb:i:${ip}`],
          [String(now), String(config.ringBurst), String(perMs)],
        ),
      );
      return Number(ok) === 1;
    },
    async claimCallId(callId, until, now) {
      const ttl = String(Math.max(1, until - now));
      const ok = await timed(cmd.sendCommand(['SET', `${prefix}call:${callId}`, '1', 'NX', 'PX', ttl]));
      return ok !== null;
    },
    address: (session) => ({ node, id: idOf(session) }),
    send(to: RemoteSession, event) {
      // The sender is always a session of this node, whatever the caller filled in.
      const stamped = { ...event, from: { node, id: event.from.id } };
      cmd.sendCommand(['PUBLISH', chan(to.node), JSON.stringify(stamped)]).catch(quiet('ring event'));
    },
    onEvent(h) {
      handler = h;
    },
    forget(session) {
      const id = ids.get(session);
      if (id === undefined) return;
      ids.delete(session);
      byId.delete(id);
    },
    size: () => local.size,
    ready: () => !closed && connection.ready(),
    async close() {
      closed = true;
      clearInterval(heartbeat);
      // A clean stop marks this node dead at once (its sockets have already unregistered;
      // anything left is ignored by lookups and deleted by the next reap).
      await Promise.race([
        cmd.sendCommand(['ZADD', nodesKey, '0', node]).catch(() => {}),
        new Promise((r) => setTimeout(r, 1000).unref()),
      ]);
      await connection.close();
    },
  };
}
