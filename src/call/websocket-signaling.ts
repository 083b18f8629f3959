/**
 * A room over the one signaling client with the runtime's own WebSocket: what the guest page
 * uses, and what the extension's service worker holds for each live call (it relays it to the
 * overlay over a runtime port). All behaviour is in ./signaling-client.ts (the socket:
 * keepalive, jittered reconnect, validation) and ./room-signaling.ts (join, resume, queue,
 * final errors); this file only supplies `new WebSocket`.
 */
import { type ResumeTicket, RoomSignaling } from './room-signaling.ts';
import { SignalingClient, type WebSocketLike } from './signaling-client.ts';

export interface WebSocketSignalingOptions {
  /** Server origin, e.g. `https://parley.example` (see src/protocol/link.ts). */
  server: string;
  /** A ticket kept from an earlier `joined`, to rejoin as the same peer. */
  resume?: ResumeTicket | undefined;
  /** `resume` is from another page of this call that went away (see RoomSignalingOptions.rejoin). */
  rejoin?: boolean;
  /** Called with every keepalive (see SignalingClientOptions.onKeepalive). */
  onKeepalive?: () => void;
}

export class WebSocketSignaling extends RoomSignaling {
  constructor(options: WebSocketSignalingOptions) {
    const connect = (url: string) => new WebSocket(url) as unknown as WebSocketLike;
    const client = new SignalingClient({ server: options.server, connect, onKeepalive: options.onKeepalive });
    super(client, { resume: options.resume, rejoin: options.rejoin === true });
  }
}
