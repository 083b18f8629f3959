import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'server/**/*.test.ts', 'test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // An expect.poll waits for what a person would see (a tile, a state, a text); how soon
          // is never what it asserts (speed is measured by the benches, and the few limits that
          // are asserted give their own timeout). Vitest's 1 s default made them fail on a
          // loaded 2-core machine where a page answers slowly; 30 s, as Playwright waits.
          expect: { poll: { timeout: 30_000 } },
          // Real Chromium profiles are heavy; on 2 cores run the files one at a time.
          fileParallelism: false,
        },
      },
      {
        test: {
          // The network lab (test/net/lab.ts): network namespaces, NAT routers, coturn, and
          // browsers inside them. Needs root; fails with what it needs otherwise.
          name: 'net',
          include: ['test/net/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
