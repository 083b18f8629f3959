/**
 * Structured JSON logs. Never log a signal payload, a resume token, a TURN secret or a
 * whole room id (room ids are capabilities: whoever knows one can join); `roomTag` gives a
 * short one-way tag to correlate lines about the same room.
 */
import { createHash } from 'node:crypto';
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(level: string): Logger {
  // Plain process.stdout rather than pino's default sonic-boom: when whoever reads our stdout
  // goes away (EPIPE), sonic-boom's flush on exit retried forever and SIGTERM never ended the
  // process. A lost log reader must not keep the server from stopping.
  process.stdout.on('error', () => {});
  return pino({ level, base: { service: 'parley-signal' } }, process.stdout);
}

export function roomTag(room: string): string {
  return createHash('sha256').update(room).digest('base64url').slice(0, 8);
}
