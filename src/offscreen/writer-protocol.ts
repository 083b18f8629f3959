/**
 * The overlay iframe has no storage (see DESIGN.md), so in the extension received files are
 * written by the offscreen document. The overlay talks to it over a runtime port named
 * WRITER_PORT_NAME; with `"message_serialization": "structured_clone"` the port carries Blobs
 * and Files, so chunks travel as Blobs of a few MiB and finished files come back disk-backed.
 */
import * as v from 'valibot';

export const WRITER_PORT_NAME = 'parley-file-writer';
export const OFFSCREEN_PATH = 'src/offscreen/offscreen.html';
/** Runtime message the overlay sends the background to get the offscreen document created. */
export const ENSURE_WRITER = { parley: 'ensure-file-writer' } as const;

const Key = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{8,64}$/));

export const OverlayToWriterSchema = v.variant('op', [
  v.object({ op: v.literal('open'), key: Key }),
  v.object({ op: v.literal('write'), key: Key, blob: v.instance(Blob) }),
  v.object({ op: v.literal('close'), key: Key }),
  v.object({ op: v.literal('discard'), key: Key }),
  v.object({ op: v.literal('estimate') }),
]);
export type OverlayToWriter = v.InferOutput<typeof OverlayToWriterSchema>;

export type WriterToOverlay =
  | { op: 'written'; key: string; total: number }
  | { op: 'closed'; key: string; file: File }
  | { op: 'discarded'; key: string }
  | { op: 'error'; key: string; name: string }
  | { op: 'estimate'; free: number | null };
