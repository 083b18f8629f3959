/** Messages between OpfsSinks (page) and the OPFS writer worker. Both ends are ours. */
export type WriterRequest =
  | { op: 'open'; key: string; dir: string[] }
  | { op: 'write'; key: string; buffer: ArrayBuffer; byteOffset: number; byteLength: number }
  /** SHA-256 of everything written so far (answered after every earlier write). */
  | { op: 'digest'; key: string }
  | { op: 'close'; key: string }
  /** How many bytes are written (answered after every earlier write). */
  | { op: 'position'; key: string }
  | { op: 'discard'; key: string; dir: string[] };

export type WriterReply =
  | { op: 'written'; key: string; total: number }
  | { op: 'digest'; key: string; sha256: string }
  | { op: 'closed'; key: string; file: File }
  | { op: 'position'; key: string; total: number }
  | { op: 'discarded'; key: string }
  | { op: 'error'; key: string; name: string };
