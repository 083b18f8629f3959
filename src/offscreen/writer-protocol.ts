/**
 * The overlay iframe has no storage, so in the extension received files are written by the
 * offscreen document. The overlay talks to it over a runtime port named WRITER_PORT_NAME;
 * with `"message_serialization": "structured_clone"` the port carries typed arrays and Files:
 * chunks travel as byte arrays (a few MiB per message, copied through the browser process and
 * freed there once delivered; Blobs would stay in the browser process until both documents
 * collect their garbage), and finished files come back disk-backed.
 */
import * as v from 'valibot';

export const WRITER_PORT_NAME = 'parley-file-writer';
export const OFFSCREEN_PATH = 'src/offscreen/offscreen.html';
/** Runtime message the overlay sends the background to get the offscreen document created. */
export const ENSURE_WRITER = { parley: 'ensure-file-writer' } as const;
/**
 * The direct channel: the overlay posts `{ parley: WRITER_CHANNEL, token }` with a MessagePort
 * to the service worker (`navigator.serviceWorker`), which hands the port on to the offscreen
 * document; the overlay sends `{ op: 'bind', token }` on its runtime port, and once the
 * offscreen document has both it answers `{ op: 'bound' }` on the MessagePort. From then on
 * the overlay sends everything on the MessagePort, chunks' buffers transferred (no copy, and
 * no detour through the browser process and the service worker, which a runtime port reaches
 * too). Without an answer the runtime port carries everything, as before.
 */
export const WRITER_CHANNEL = 'file-writer-channel';

const Key = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{8,64}$/));

export const OverlayToWriterSchema = v.variant('op', [
  v.object({ op: v.literal('open'), key: Key }),
  v.object({ op: v.literal('write'), key: Key, chunks: v.array(v.instance(Uint8Array)) }),
  v.object({ op: v.literal('digest'), key: Key }),
  v.object({ op: v.literal('close'), key: Key }),
  v.object({ op: v.literal('discard'), key: Key }),
  /** Take over an unfinished file of an overlay that went away (answered with `adopted`). */
  v.object({ op: v.literal('adopt'), key: Key }),
  /** Hold a File this overlay sends to `peer`, for the next overlay if this one goes away. */
  v.object({
    op: v.literal('keep'),
    key: Key,
    peer: v.pipe(v.string(), v.maxLength(200)),
    index: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0xffffffff)),
    file: v.instance(File),
  }),
  /** The kept File's transfer ended. */
  v.object({ op: v.literal('release'), key: Key }),
  /** The Files kept for `peer` by an overlay that went away (answered with `reclaimed`). */
  v.object({ op: v.literal('reclaim'), peer: v.pipe(v.string(), v.maxLength(200)) }),
  v.object({ op: v.literal('estimate') }),
  v.object({ op: v.literal('bind'), token: Key }),
]);
export type OverlayToWriter = v.InferOutput<typeof OverlayToWriterSchema>;

/** The token of a direct channel, as it comes from the service worker with its MessagePort. */
export const WriterChannelSchema = v.object({ parley: v.literal(WRITER_CHANNEL), token: Key });

export type WriterToOverlay =
  | { op: 'written'; key: string; total: number }
  | { op: 'digest'; key: string; sha256: string }
  | { op: 'closed'; key: string; file: File }
  | { op: 'discarded'; key: string }
  | { op: 'reclaimed'; peer: string; files: KeptFile[] }
  /** `written`: the bytes the file holds, or null when there is no such file to continue. */
  | { op: 'adopted'; key: string; written: number | null }
  /** `message`: the sentence the person sees; `noSpace`: the disk or the quota is full. */
  | { op: 'error'; key: string; message: string; noSpace: boolean }
  | { op: 'estimate'; free: number | null }
  /** On the direct channel only: the offscreen document listens on it. */
  | { op: 'bound' };

/** A File an overlay was sending, kept by the writer across overlays of one call. */
export interface KeptFile {
  /** The transfer id. */
  key: string;
  /** The transfer index its body frames carry. */
  index: number;
  file: File;
}
