import type { DataLink } from '../call/data-link.ts';

/**
 * What the call UI (src/overlay/app.ts) gives the chat and files panels. The panels are
 * mounted once per call and stay mounted; links come and go as peers connect and leave.
 */
export interface PanelContext {
  /** Our own display name. */
  localName: string;
  /** Subscribe to data links: called when a peer's channels are open. Returns unsubscribe. */
  onLink(handler: (link: DataLink) => void): () => void;
  /** Called when a link closes (peer left, hung up, connection lost). */
  onLinkClosed(handler: (peerId: string, reason: 'hangup' | 'lost' | 'left') => void): () => void;
  /**
   * Add a line to the chat timeline from another feature (e.g. "Ana sent photo.jpg, 4.2 MB").
   * Implemented by the chat panel; files panel calls it.
   */
  announce(text: string): void;
  /** Where received files are written (OPFS worker on the guest page, offscreen doc in the extension). */
  host: 'guest' | 'extension';
}
