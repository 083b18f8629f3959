/**
 * Preloaded into every server under test by bench:signal (`--expose-gc --import`): SIGUSR2
 * runs a full garbage collection, so idle-memory readings compare live memory, not whatever
 * garbage each server happened to leave behind. The same hook goes into all three servers.
 */
process.on('SIGUSR2', () => {
  (globalThis as { gc?: () => void }).gc?.();
});
