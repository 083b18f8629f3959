/** What the UI sees of one file going to or coming from a peer. The engine mutates it. */
export type TransferState =
  /** Sender: making the thumbnail / receiver: opening storage. */
  | 'preparing'
  | 'transferring'
  /** The connection was lost: waiting for the next one to continue where it stopped. */
  | 'paused'
  /** Every byte is there; hashes are being compared. */
  | 'verifying'
  | 'done'
  | 'cancelled'
  /** The peer left or the link dropped. */
  | 'interrupted'
  /** Hashes differ: nothing kept. */
  | 'corrupted'
  | 'failed';

export const FINISHED_STATES: readonly TransferState[] = [
  'done',
  'cancelled',
  'interrupted',
  'corrupted',
  'failed',
];

export interface Transfer {
  readonly id: string;
  readonly direction: 'out' | 'in';
  readonly peerId: string;
  peerName: string;
  /** Already made safe (safeFileName) on the receiving side. */
  readonly name: string;
  readonly size: number;
  readonly mime: string;
  state: TransferState;
  /** Sender: bytes the receiver says it wrote; receiver: bytes written to disk. */
  bytes: number;
  thumbnail: Blob | null;
  /** Why there is no thumbnail although one was sent (shown on the card). */
  thumbnailProblem: string | null;
  /** A sentence explaining a failed / cancelled / interrupted / corrupted state. */
  message: string | null;
  cancelledBy: 'me' | 'peer' | null;
  /** Receiver, when done and verified: the disk-backed file. */
  file: File | null;
  sha256: string | null;
  /** performance.now() marks, for progress speed and the benchmark. */
  readonly times: { offered: number; thumbnail?: number; firstBody?: number; finished?: number };
}

export function isFinished(transfer: Transfer): boolean {
  return FINISHED_STATES.includes(transfer.state);
}
