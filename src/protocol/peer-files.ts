/**
 * File transfer over a peer's data channels (see src/call/data-link.ts and peer-link.ts).
 *
 * Control messages (JSON text on the `control` channel, `t` = 'file-*'), in order for one file:
 *   sender → receiver: file-offer, then file-thumb (optional; the receiver answers with a
 *   file-ack of 0 bytes once it is on screen, and the sender waits up to 1.5 s for that so the
 *   thumbnail shows before any of the body arrives), then the body frames on the
 *   `files` channel, then file-done with the hash of what was sent (`sha256`: SHA-256 over
 *   the file's size, u64 big-endian, and the SHA-256 of each of its 4 MiB blocks in order; see
 *   src/call/files/block-hash.ts);
 *   receiver → sender: file-ack (bytes written to disk, several times a second), file-result
 *   (whether the hashes matched); either side: file-cancel, file-error.
 * When the connection is replaced mid-transfer (src/call/peer-link.ts), the sender sends each
 * unfinished file-offer again with `resume: true`; the receiver answers file-resume with the
 * bytes it has (0 for an offer it never saw), and the body continues from there on the new
 * connection: only what was in flight when the old one died is sent twice. Terminal messages
 * (file-cancel, file-error, file-result) that could not be sent meanwhile are sent then.
 * An offer with `resumable` (the first 256 KiB's SHA-256 and the sender's send-again key) is
 * always answered with file-resume before any body is sent: 0, or the bytes of a partial copy
 * the receiver kept from the same person's same file when their document went away ("send
 * it again to continue").
 *
 * Body frames (binary on the `files` channel): a fixed 13-byte header, then the bytes.
 *   u8  type    (1 = body)
 *   u32 index   (the sender's transfer index from file-offer; big-endian)
 *   f64 offset  (byte offset of this chunk in the file; exact for every size up to 2^53)
 * No base64 and no JSON around bodies.
 *
 * Everything here comes from the peer: a trust boundary. Parse with `parseFileMessage`.
 */
import * as v from 'valibot';

/** A transfer's id: random, base64url. */
export const TRANSFER_ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;
/** The most a single body frame carries (the link may allow less). */
export const MAX_CHUNK_BYTES = 256 * 1024;
/** Largest thumbnail we accept from a peer (decoded bytes). Ours are a few KB. */
export const MAX_THUMB_BYTES = 64 * 1024;
/** Largest name we keep from an offer (the saved name is shortened further). */
export const MAX_OFFER_NAME = 1024;
export const MAX_FILE_SIZE = Number.MAX_SAFE_INTEGER;

export const FRAME_HEADER_BYTES = 13;
export const FRAME_TYPE_BODY = 1;

const Id = v.pipe(v.string(), v.regex(TRANSFER_ID_PATTERN));
const ByteCount = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(MAX_FILE_SIZE));
const Sha256 = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/));
const Dimension = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(4096));

/** The bytes `resumable.head` hashes: the file's first 256 KiB (all of a smaller file). */
export const HEAD_BYTES = 256 * 1024;

/**
 * What lets a receiver continue its partial copy of this file when the sender's document that
 * offered it is gone and the person sends the same file again (src/call/files/partial-shelf.ts):
 * `head`, the SHA-256 of the file's first HEAD_BYTES; `key`, the sender's send-again key for
 * this receiver (HMAC-SHA-256 of the receiver's peer id under a secret that stays in the
 * sender's browser; src/call/files/send-again-key.ts). The receiver compares both, with the
 * name and the size, to the offer its partial came with; it never derives anything from them.
 */
export const ResumableSchema = v.strictObject({ head: Sha256, key: Sha256 });
export type Resumable = v.InferOutput<typeof ResumableSchema>;

export const FileOfferSchema = v.strictObject({
  t: v.literal('file-offer'),
  id: Id,
  /** Identifies this transfer's body frames (u32). */
  index: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0xffffffff)),
  name: v.pipe(v.string(), v.maxLength(MAX_OFFER_NAME)),
  size: ByteCount,
  mime: v.pipe(v.string(), v.maxLength(255)),
  lastModified: v.pipe(v.number(), v.finite()),
  /** Sent again on a new connection: the receiver answers with `file-resume`. */
  resume: v.optional(v.literal(true)),
  /**
   * The sender can continue this file from a partial copy the receiver kept (see
   * ResumableSchema). The receiver answers every offer that carries it with `file-resume`
   * (0 when it has nothing), and the sender sends no body before that answer.
   */
  resumable: v.optional(ResumableSchema),
});

/** Thumbnail MIME types we accept (no SVG: it can carry script). */
export const THUMB_MIME_TYPES = ['image/jpeg', 'image/webp', 'image/png'] as const;

export const FileThumbSchema = v.strictObject({
  t: v.literal('file-thumb'),
  id: Id,
  mime: v.picklist(THUMB_MIME_TYPES),
  width: Dimension,
  height: Dimension,
  /** base64 of the image bytes; the length bound keeps the decoded size ≤ MAX_THUMB_BYTES. */
  data: v.pipe(
    v.string(),
    v.maxLength(Math.ceil(MAX_THUMB_BYTES / 3) * 4),
    v.regex(/^[A-Za-z0-9+/]*={0,2}$/),
  ),
});

export const FileAckSchema = v.strictObject({ t: v.literal('file-ack'), id: Id, bytes: ByteCount });

/**
 * Receiver → sender, after a connection was replaced: the answer to a re-sent `file-offer`
 * (`resume: true`): continue this transfer's body from `bytes` (what the receiver has).
 */
export const FileResumeSchema = v.strictObject({ t: v.literal('file-resume'), id: Id, bytes: ByteCount });

export const FileCancelSchema = v.strictObject({
  t: v.literal('file-cancel'),
  id: Id,
  by: v.picklist(['sender', 'receiver']),
});

export const FileDoneSchema = v.strictObject({ t: v.literal('file-done'), id: Id, sha256: Sha256 });

export const FileResultSchema = v.strictObject({
  t: v.literal('file-result'),
  id: Id,
  ok: v.boolean(),
  sha256: Sha256,
});

export const FILE_ERROR_CODES = [
  'no-space',
  'write-failed',
  'bad-frame',
  'too-long',
  'bad-offset',
  'bad-thumb',
  'read-failed',
  'unsupported',
] as const;
export type FileErrorCode = (typeof FILE_ERROR_CODES)[number];

export const FileErrorSchema = v.strictObject({
  t: v.literal('file-error'),
  id: Id,
  code: v.picklist(FILE_ERROR_CODES),
  message: v.pipe(v.string(), v.maxLength(500)),
});

export const FileMessageSchema = v.variant('t', [
  FileOfferSchema,
  FileThumbSchema,
  FileAckSchema,
  FileResumeSchema,
  FileCancelSchema,
  FileDoneSchema,
  FileResultSchema,
  FileErrorSchema,
]);

export type FileOffer = v.InferOutput<typeof FileOfferSchema>;

/** The control-message types file transfer owns (src/call/peer-link.ts routes them). */
export const FILE_TYPES = [
  'file-offer',
  'file-thumb',
  'file-ack',
  'file-resume',
  'file-cancel',
  'file-done',
  'file-result',
  'file-error',
] as const;
export type FileThumb = v.InferOutput<typeof FileThumbSchema>;
export type FileMessage = v.InferOutput<typeof FileMessageSchema>;

export type ParsedFileMessage =
  | { kind: 'ok'; message: FileMessage }
  /** The `t` says it is ours but the rest is wrong; `id` when one could be read (to blame a transfer). */
  | { kind: 'invalid'; id: string | undefined }
  /** Not a file message (chat, the session's own messages, or not JSON at all). */
  | { kind: 'not-mine' };

/** Parse a control-channel message that may be a file message. */
export function parseFileMessage(raw: unknown): ParsedFileMessage {
  if (typeof raw !== 'object' || raw === null) return { kind: 'not-mine' };
  const t = (raw as { t?: unknown }).t;
  if (typeof t !== 'string' || !t.startsWith('file-')) return { kind: 'not-mine' };
  const result = v.safeParse(FileMessageSchema, raw);
  if (result.success) return { kind: 'ok', message: result.output };
  const id = (raw as { id?: unknown }).id;
  return { kind: 'invalid', id: typeof id === 'string' && TRANSFER_ID_PATTERN.test(id) ? id : undefined };
}
