/** Messages between OpfsSinks (page) and the OPFS writer worker. Both ends are ours. */
export type WriterRequest =
  | { op: 'open'; key: string; dir: string[] }
  | { op: 'write'; key: string; buffer: ArrayBuffer; byteOffset: number; byteLength: number }
  | { op: 'close'; key: string }
  | { op: 'discard'; key: string; dir: string[] };

export type WriterReply =
  | { op: 'written'; key: string; total: number }
  | { op: 'closed'; key: string; file: File }
  | { op: 'discarded'; key: string }
  | { op: 'error'; key: string; name: string };
