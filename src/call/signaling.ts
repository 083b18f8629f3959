/**
 * The one interface the call engine uses to reach the signaling server. Two
 * implementations: `WebSocketSignaling` (guest page, direct socket) in
 * ./websocket-signaling.ts and the runtime port to the service worker (extension overlay)
 * in src/overlay/port-signaling.ts.
 */
import type { IceServer } from '../protocol/signaling.ts';

export interface JoinedInfo {
  room: string;
  /** Our peer id in the room. Stays the same across reconnects (resume). */
  peerId: string;
  /** Peers that were already in the room when we joined. */
  peers: string[];
  iceServers: IceServer[];
  capacity: number;
  /**
   * We were already in this room under this id, in another page that is gone (the extension
   * re-mounted its overlay): the peers know us and will not offer, so offer to them at once.
   */
  rejoin?: boolean;
  /** The server keeps a parked message for the next joiner (`Signaling.park`). */
  canPark?: boolean;
}

export type SignalingStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface SignalingEvents {
  /** Fired on the first join and again after every successful reconnect. */
  joined: (info: JoinedInfo) => void;
  /** `parked`: our parked message (see `Signaling.park`) went to this peer. */
  peerJoined: (peerId: string, parked?: boolean) => void;
  peerLeft: (peerId: string) => void;
  signal: (from: string, data: unknown) => void;
  status: (status: SignalingStatus) => void;
  /** A problem a person should see: `room-full`, `unsupported-version`, unreachable server... */
  error: (code: string, message: string) => void;
}

export interface Signaling {
  /**
   * Connect (if needed) and join the room (a team room with its key, see
   * protocol/team-room.ts). Resolves with the first `joined`.
   */
  join(room: string, key?: string): Promise<JoinedInfo>;
  /** Relay an opaque payload to one peer in the room. */
  send(to: string, data: unknown): void;
  /**
   * Leave an opaque payload with the server for the next peer to join (null takes it back),
   * when `joined` said `canPark`. Dropped if not joined at the moment: park again on `joined`.
   */
  park?(data: unknown): void;
  on<K extends keyof SignalingEvents>(event: K, handler: SignalingEvents[K]): () => void;
  /** Leave the room and stop reconnecting. */
  leave(): void;
  /**
   * Media stopped on a connection: the network may have changed under a socket that did not
   * notice. Make sure it is alive (reconnecting if it does not answer promptly).
   */
  checkConnection?(): void;
}
