/**
 * Preloaded into every server under test by bench:signal (`--expose-gc --import`): SIGUSR2
 * runs a full garbage collection, so idle-memory readings compare live memory, not whatever
 * garbage each server happened to leave behind. The same hook goes into all three servers.
 *
 * With GC_REPORT=1 in its environment (bench:presence) it then writes one line to stderr,
 * `gc-report {"heapUsed":…,"heapTotal":…}`: the live JS heap, which unlike RSS does not carry
 * whatever malloc and V8 kept from earlier peaks.
 */
process.on('SIGUSR2', () => {
  (globalThis as { gc?: () => void }).gc?.();
  if (process.env.GC_REPORT === '1') {
    const { heapUsed, heapTotal } = process.memoryUsage();
    process.stderr.write(`gc-report ${JSON.stringify({ heapUsed, heapTotal })}\n`);
  }
});
