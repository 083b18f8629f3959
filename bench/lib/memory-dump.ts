/**
 * Chromium's own account of a renderer's memory (memory-infra), for benches that need to say
 * where growth lives: a detailed dump requested over the DevTools protocol of one page, read
 * as the sizes of the allocators at the top two levels (malloc, v8, partition_alloc,
 * discardable, cc/image_memory, …) of the processes it reports.
 */
import type { Page } from 'playwright-core';

export type AllocatorSizes = Map<string, number>;

/** pid → allocator name (two levels at most) → bytes. */
export async function memoryDump(page: Page): Promise<Map<number, AllocatorSizes>> {
  const cdp = await page.context().newCDPSession(page);
  const events: { ph?: string; pid?: number; args?: { dumps?: { allocators?: Record<string, unknown> } } }[] =
    [];
  cdp.on('Tracing.dataCollected', (e) => events.push(...(e.value as typeof events)));
  const complete = new Promise((resolve) => cdp.once('Tracing.tracingComplete', resolve));
  await cdp.send('Tracing.start', {
    traceConfig: {
      includedCategories: ['disabled-by-default-memory-infra'],
      memoryDumpConfig: { triggers: [] } as unknown as Record<string, string>,
    },
    transferMode: 'ReportEvents',
  });
  await cdp.send('Tracing.requestMemoryDump', { deterministic: true, levelOfDetail: 'detailed' });
  await cdp.send('Tracing.end');
  await complete;
  await cdp.detach();
  const byPid = new Map<number, AllocatorSizes>();
  for (const event of events) {
    const allocators = event.args?.dumps?.allocators;
    if (event.ph !== 'v' || !allocators || event.pid === undefined) continue;
    const sizes = byPid.get(event.pid) ?? new Map<string, number>();
    for (const [name, value] of Object.entries(allocators)) {
      if (name.split('/').length > 2) continue;
      const hex = (value as { attrs?: { size?: { value?: string } } }).attrs?.size?.value;
      if (hex) sizes.set(name, Number.parseInt(hex, 16));
    }
    byPid.set(event.pid, sizes);
  }
  return byPid;
}

/** "name +12.3" for the allocators that changed most between two dumps of one process. */
export function growthLines(before: AllocatorSizes, after: AllocatorSizes, atLeastMiB = 2): string[] {
  const MIB = 1024 * 1024;
  return [...new Set([...before.keys(), ...after.keys()])]
    .map((name) => [name, ((after.get(name) ?? 0) - (before.get(name) ?? 0)) / MIB] as const)
    .filter(([, mib]) => Math.abs(mib) >= atLeastMiB)
    .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]))
    .map(([name, mib]) => `${name} ${mib >= 0 ? '+' : ''}${mib.toFixed(1)}`);
}
