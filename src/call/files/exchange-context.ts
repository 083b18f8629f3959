/**
 * What the two halves of a FileExchange (outgoing-files.ts, incoming-files.ts) share: the
 * person's link, the options and their defaults, the transfers' cards, and one way to send a
 * file message.
 */
import type { FileMessage } from '../../protocol/peer-files.ts';
import type { PeerLink } from '../peer-link.ts';
import type { FileReader } from './file-reader.ts';
import type { SinkFactory } from './file-sink.ts';
import type { PartialShelf } from './partial-shelf.ts';
import type { SendAgainKeys } from './send-again-key.ts';
import type { Thumbnail } from './thumbnail-fit.ts';
import type { TransferBook } from './transfer-book.ts';

export interface ExchangeOptions {
  sinks: SinkFactory;
  thumbnails?: { make(file: File): Promise<Thumbnail | null> };
  /** Stop handing frames to the channel above this (Chrome fails at 16 MiB). */
  highWater?: number;
  /** Resume when the channel drains below this. */
  lowWater?: number;
  /** Bytes sent but not yet acknowledged as written. */
  maxInFlight?: number;
  /** Receiver acknowledges after this many newly written bytes. */
  ackStep?: number;
  /** Reads, hashes and frames a file we send (default: in a worker, src/call/files/file-reader.ts). */
  openReader?: (file: Blob) => FileReader;
  /** Thumbnails must decode as images before we show them (createImageBitmap in browsers). */
  checkImage?: (blob: Blob) => Promise<boolean>;
  /** Keeps the Files we send beyond this document, for the next one to continue (extension overlay). */
  keeper?: FileKeeper;
  /**
   * Our send-again keys (send-again-key.ts): with them our offers are `resumable`, so a
   * receiver that kept part of a file from an earlier document of ours continues it when we
   * send it again.
   */
  sendAgain?: SendAgainKeys;
  /** Where partial files whose sender's document went away wait to be sent again (shared by every exchange of this document). */
  shelf?: PartialShelf;
}

/** A File we were sending, kept by an earlier document. */
export interface KeptSend {
  /** The transfer id and index it was offered with. */
  id: string;
  index: number;
  file: File;
}

/**
 * Somewhere that outlives this document (the extension's offscreen document): the Files we
 * send are kept there while their transfers run, so that the next document of the call (the
 * overlay re-mounted, or moved to the call window) continues them.
 */
export interface FileKeeper {
  keep(peerId: string, id: string, index: number, file: File): Promise<void>;
  /** The transfer ended (sent, failed, cancelled). */
  release(id: string): void;
  /** The Files an earlier document was sending to this person (taken over by this one). */
  reclaim(peerId: string): Promise<KeptSend[]>;
}

export const NOT_UNDERSTOOD = 'The other side sent something Parley does not understand.';

/**
 * The files channel shares the SCTP association with the control channel. Chromium's SCTP
 * (dcsctp) takes whole messages from its streams in turn, so a chat message waits for at most
 * the one body frame being sent, not for all that is queued on `files`: the queue can be
 * deep enough that the pipe never runs dry while this thread is busy or descheduled (on a
 * loaded machine it can be for a good part of a second; 2 MiB is 0.2 s at 10 MB/s).
 * What is in flight beyond the queue is held by the receiver until written (its data channel's
 * backlog, the writer's queue), hence the smaller cap on unacknowledged bytes.
 */
const DEFAULTS = {
  highWater: 8 * 1024 * 1024,
  lowWater: 2 * 1024 * 1024,
  maxInFlight: 16 * 1024 * 1024,
  ackStep: 1024 * 1024,
};

export type ExchangeSettings = typeof DEFAULTS;

export function settingsFrom(options: ExchangeOptions): ExchangeSettings {
  const settings = { ...DEFAULTS };
  for (const key of Object.keys(DEFAULTS) as (keyof ExchangeSettings)[]) {
    const value = options[key];
    if (typeof value === 'number') settings[key] = value;
  }
  return settings;
}

export interface ExchangeContext {
  readonly link: PeerLink;
  readonly options: ExchangeOptions;
  readonly settings: ExchangeSettings;
  readonly book: TransferBook;
  /** The exchange was closed (the person is gone): nothing more is sent or accepted. */
  readonly closed: boolean;
  /** Send a file message on the control channel (terminal ones wait while the link is paused). */
  send(message: FileMessage): void;
}
