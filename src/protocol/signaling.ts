/**
 * The signaling wire protocol, shared by the server (server/) and every client (the
 * extension's service worker and the guest page). One JSON object per WebSocket text frame.
 * See docs/protocol.md for the prose version.
 *
 * Every message carries `v: 1`. The server never parses a `signal` payload: it is opaque
 * (SDP, ICE candidates, verification data) and relayed to exactly one named peer.
 */
import * as v from 'valibot';

export const PROTOCOL_VERSION = 1;

/** Room ids are ≥128 bits of randomness in base64url: 22 chars for 16 bytes; we allow 22-64. */
export const ROOM_ID_PATTERN = /^[A-Za-z0-9_-]{22,64}$/;
/** Peer ids are assigned by the server: 16 random bytes, base64url. */
export const PEER_ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;
/** The resume token lets a client that lost its socket reclaim its peer id (same length). */
export const RESUME_TOKEN_PATTERN = /^[A-Za-z0-9_-]{22,64}$/;
/** A team room's key (src/protocol/team-room.ts): 32 bytes, base64url. */
export const TEAM_KEY_PATTERN = /^[A-Za-z0-9_-]{43}$/;
/** A count nonce (16 bytes) and a count proof (an HMAC-SHA256), base64url. */
export const COUNT_NONCE_PATTERN = /^[A-Za-z0-9_-]{22}$/;
export const COUNT_PROOF_PATTERN = /^[A-Za-z0-9_-]{43}$/;

const RoomId = v.pipe(v.string(), v.regex(ROOM_ID_PATTERN));
const PeerId = v.pipe(v.string(), v.regex(PEER_ID_PATTERN));
const Version = v.literal(PROTOCOL_VERSION);

// ---------- client → server ----------

export const JoinSchema = v.strictObject({
  v: Version,
  type: v.literal('join'),
  room: RoomId,
  /** Present when reconnecting: reclaims the same peer id so the other side keeps its call. */
  resume: v.optional(
    v.strictObject({ peerId: PeerId, token: v.pipe(v.string(), v.regex(RESUME_TOKEN_PATTERN)) }),
  ),
  /**
   * A team room's key (43-character room ids only; see src/protocol/team-room.ts): the server
   * admits the join only if SHA-256(key) is the room id.
   */
  key: v.optional(v.pipe(v.string(), v.regex(TEAM_KEY_PATTERN))),
});

export const SignalOutSchema = v.strictObject({
  v: Version,
  type: v.literal('signal'),
  to: PeerId,
  /** Opaque to the server. */
  data: v.unknown(),
});

/**
 * Leave a message for whoever joins the room next (`data: null` takes it back): the peer that
 * waits alone parks its prepared, signed offer, and the server hands it to the next peer right
 * after its `joined`, as a `signal` from the parker, instead of that peer waiting for the
 * parker to hear `peer-joined` and send it. Opaque, like a signal's `data`; only for servers
 * whose `joined` lists the `park` feature.
 */
export const ParkSchema = v.strictObject({ v: Version, type: v.literal('park'), data: v.unknown() });

export const LeaveSchema = v.strictObject({ v: Version, type: v.literal('leave') });

/** Application-level keepalive: browsers cannot send WebSocket ping frames. */
export const PingSchema = v.strictObject({ v: Version, type: v.literal('ping') });

/** Asks for this socket's count nonce (answered with `count-nonce`; a new one each time). */
export const CountNonceSchema = v.strictObject({ v: Version, type: v.literal('count-nonce') });

/**
 * How many people are in a team room now: `proof` is HMAC-SHA256(key, "parley room count
 * v1\n" + nonce + "\n" + room) with this socket's latest nonce. Answered with `count`; a room
 * that is empty, is not a team room or whose proof does not hold all answer `people: 0`.
 */
export const CountSchema = v.strictObject({
  v: Version,
  type: v.literal('count'),
  room: RoomId,
  proof: v.pipe(v.string(), v.regex(COUNT_PROOF_PATTERN)),
});

export const ClientMessageSchema = v.variant('type', [
  JoinSchema,
  SignalOutSchema,
  ParkSchema,
  LeaveSchema,
  PingSchema,
  CountNonceSchema,
  CountSchema,
]);

export type JoinMessage = v.InferOutput<typeof JoinSchema>;
export type SignalOutMessage = v.InferOutput<typeof SignalOutSchema>;
export type ParkMessage = v.InferOutput<typeof ParkSchema>;
export type CountMessage = v.InferOutput<typeof CountSchema>;
export type ClientMessage = v.InferOutput<typeof ClientMessageSchema>;

// ---------- server → client ----------

export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

const IceServerSchema = v.object({
  urls: v.union([v.string(), v.array(v.string())]),
  username: v.optional(v.string()),
  credential: v.optional(v.string()),
});

export const JoinedSchema = v.object({
  v: Version,
  type: v.literal('joined'),
  room: RoomId,
  peerId: PeerId,
  /** Keep it to reclaim `peerId` after a reconnect (see JoinSchema.resume). */
  resumeToken: v.string(),
  /** The other peers already in the room, oldest first. */
  peers: v.array(PeerId),
  iceServers: v.array(IceServerSchema),
  /** Room capacity, so a client can tell the user how many may join. */
  capacity: v.number(),
  /** What this server offers beyond the base protocol: `park` (see ParkSchema). */
  features: v.optional(v.array(v.string())),
});

export const PeerJoinedSchema = v.object({
  v: Version,
  type: v.literal('peer-joined'),
  peerId: PeerId,
  /** Your parked message went to this peer (and is no longer parked). */
  parked: v.optional(v.boolean()),
});
export const PeerLeftSchema = v.object({ v: Version, type: v.literal('peer-left'), peerId: PeerId });
export const SignalInSchema = v.object({
  v: Version,
  type: v.literal('signal'),
  from: PeerId,
  data: v.unknown(),
});
export const PongSchema = v.object({ v: Version, type: v.literal('pong') });
export const CountNonceReplySchema = v.object({
  v: Version,
  type: v.literal('count-nonce'),
  nonce: v.pipe(v.string(), v.regex(COUNT_NONCE_PATTERN)),
});
export const CountReplySchema = v.object({
  v: Version,
  type: v.literal('count'),
  room: RoomId,
  people: v.pipe(v.number(), v.integer(), v.minValue(0)),
});

export const ERROR_CODES = [
  'bad-json',
  'bad-message',
  'unsupported-version',
  'binary-not-supported',
  'not-joined',
  'already-joined',
  'room-full',
  'unknown-peer',
  'rate-limited',
  'too-large',
  'server-shutdown',
  'unavailable',
  'internal',
  // A team room joined without its key, or with a key that does not make its id:
  'bad-key',
  // Presence and rings (src/protocol/presence.ts):
  'stale-challenge',
  'bad-signature',
  'not-registered',
  'bad-invite',
  'unknown-ring',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export const ErrorSchema = v.object({
  v: Version,
  type: v.literal('error'),
  code: v.picklist(ERROR_CODES),
  message: v.string(),
});

export const ServerMessageSchema = v.variant('type', [
  JoinedSchema,
  PeerJoinedSchema,
  PeerLeftSchema,
  SignalInSchema,
  PongSchema,
  CountNonceReplySchema,
  CountReplySchema,
  ErrorSchema,
]);

export type JoinedMessage = v.InferOutput<typeof JoinedSchema>;
export type ServerMessage = v.InferOutput<typeof ServerMessageSchema>;
export type ServerError = v.InferOutput<typeof ErrorSchema>;

/** Parse a text frame from the server; returns null for anything malformed. */
export function parseServerMessage(text: string): ServerMessage | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  const result = v.safeParse(ServerMessageSchema, raw);
  return result.success ? result.output : null;
}

/** Close codes the server uses (4000-4999 is the application range). */
export const CLOSE_CODES = {
  shutdown: 1001,
  policy: 1008,
  tooLarge: 1009,
  rateLimited: 4008,
  slowConsumer: 4009,
  replaced: 4010,
  /** The server could not serve this now (its room store is unreachable); reconnect later. */
  tryAgainLater: 1013,
} as const;
