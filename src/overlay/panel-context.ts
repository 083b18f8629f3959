import type { PeerLink } from '../call/peer-link.ts';

/**
 * What the call UI (src/overlay/app.ts) gives the chat and files panels. The panels are
 * mounted once per call and stay mounted; links come and go as peers connect and leave.
 */
export interface PanelContext {
  /** Our own display name. */
  localName: string;
  /**
   * Subscribe to people's links: called once per person, when their channels first open (the
   * link outlives a replaced connection: see src/call/peer-link.ts). Returns unsubscribe.
   */
  onLink(handler: (link: PeerLink) => void): () => void;
  /** Called when a person's link closes for good (left, hung up, connection lost). */
  onLinkClosed(handler: (peerId: string, reason: 'hangup' | 'lost' | 'left') => void): () => void;
  /** Called once when the call ends here (the panels stay, showing what happened). */
  onEnded(handler: () => void): () => void;
  /**
   * Add a line to the chat timeline from another feature (e.g. "Ana sent photo.jpg, 4.2 MB").
   * Implemented by the chat panel; files panel calls it.
   */
  announce(text: string): void;
  /** Where received files are written (OPFS worker on the guest page, offscreen doc in the extension). */
  host: 'guest' | 'extension';
}
