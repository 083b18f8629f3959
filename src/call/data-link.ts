/**
 * What the call engine hands to the features that ride on the peer connection (chat, file
 * transfer). The session creates both channels pre-negotiated (`negotiated: true`) on every
 * RTCPeerConnection, so neither side waits for `ondatachannel`:
 *   - `control` (id 0): ordered, reliable, UTF-8 JSON objects with a string `t` field. The
 *     session itself uses t = 'hello' | 'media' | 'bye'; chat uses 'chat'; file transfer uses
 *     'file-*'. Each listener ignores the `t` values it does not own, and validates the ones
 *     it does (the peer is a trust boundary).
 *   - `files` (id 1): ordered, reliable, binary frames only (binaryType 'arraybuffer').
 */
export interface DataLink {
  /** The remote peer's id in the signaling room. */
  readonly peerId: string;
  readonly control: RTCDataChannel;
  readonly files: RTCDataChannel;
  /** min(pc.sctp.maxMessageSize, 256 KiB); what a single binary frame may carry. */
  readonly maxMessageSize: number;
  /** The remote person's display name (from their 'hello'), or 'Guest'. */
  remoteName(): string;
  /**
   * The connection's current descriptions (their DTLS fingerprints bind identity keys to this
   * call, src/identity/binding.ts); '' where there is none.
   */
  descriptions?(): { local: string; remote: string };
}

export const CONTROL_CHANNEL_ID = 0;
export const FILES_CHANNEL_ID = 1;

/** The two pre-negotiated channels of a call connection (see above). */
export function createCallChannels(pc: RTCPeerConnection): {
  control: RTCDataChannel;
  files: RTCDataChannel;
} {
  const control = pc.createDataChannel('control', {
    negotiated: true,
    id: CONTROL_CHANNEL_ID,
    ordered: true,
  });
  const files = pc.createDataChannel('files', { negotiated: true, id: FILES_CHANNEL_ID, ordered: true });
  files.binaryType = 'arraybuffer';
  return { control, files };
}
