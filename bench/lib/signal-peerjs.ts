/**
 * Runs the PeerJS server (npm `peer`) for `bench:signal` with its defaults, except the two
 * limits that would otherwise stop the benchmark itself: `concurrent_limit` (5000 by default)
 * and `alive_timeout` (the load generator sends no HEARTBEATs). Prints `{"port":N}` when ready.
 */
import type { AddressInfo } from 'node:net';
import { PeerServer } from 'peer';

PeerServer(
  {
    port: Number(process.env.PORT ?? 0),
    host: '127.0.0.1',
    concurrent_limit: 1_000_000,
    alive_timeout: 3_600_000,
  },
  (server) => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
  },
);
