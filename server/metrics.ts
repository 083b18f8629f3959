/**
 * Prometheus metrics (GET /metrics). The relay path only bumps plain numbers; prom-client
 * reads them when scraped, so a busy server pays nothing per message for its metrics.
 */
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

export type RejectionReason =
  | 'bad-json'
  | 'bad-message'
  | 'unsupported-version'
  | 'binary-not-supported'
  | 'not-joined'
  | 'already-joined'
  | 'room-full'
  | 'bad-key'
  | 'unknown-peer'
  | 'rate-limited'
  | 'rate-limit-disconnect'
  | 'too-large'
  | 'protocol-error'
  | 'slow-consumer'
  | 'heartbeat-timeout'
  | 'origin'
  | 'per-ip-limit'
  | 'bad-path'
  | 'shutting-down'
  // Presence and rings (server/presence.ts):
  | 'stale-challenge'
  | 'bad-signature'
  | 'not-registered'
  | 'bad-invite'
  | 'unknown-ring'
  | 'ring-rate-limited'
  | 'malformed-presence';

export interface ServerStats {
  sockets(): number;
  rooms(): number;
}

export class Metrics {
  readonly registry = new Registry();
  relayed = 0;
  /** Signals for peers on other nodes dropped while Redis was unreachable. */
  dropped = 0;
  received = 0;
  resumed = 0;
  /** Rings handed to an online mailbox, and rings whose mailbox was offline. */
  ringsDelivered = 0;
  ringsOffline = 0;
  readonly rejections = new Map<RejectionReason, number>();

  constructor(stats: ServerStats) {
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 20 });
    const self = this;
    new Gauge({
      name: 'parley_sockets',
      help: 'Open signaling WebSockets.',
      registers: [this.registry],
      collect() {
        this.set(stats.sockets());
      },
    });
    new Gauge({
      name: 'parley_rooms',
      help: 'Rooms with at least one member (live or within its resume grace).',
      registers: [this.registry],
      collect() {
        this.set(stats.rooms());
      },
    });
    const counted = (name: string, help: string, read: () => number) => {
      let reported = 0;
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          const now = read();
          this.inc(now - reported);
          reported = now;
        },
      });
    };
    counted(
      'parley_messages_relayed_total',
      'Signal messages delivered to a peer (a peer on another node: handed to Redis).',
      () => self.relayed,
    );
    counted(
      'parley_messages_dropped_total',
      'Signal messages for a peer on another node dropped because Redis was unreachable.',
      () => self.dropped,
    );
    counted('parley_messages_received_total', 'Text messages received from clients.', () => self.received);
    counted('parley_resumes_total', 'Peer ids reclaimed with a resume token.', () => self.resumed);
    counted(
      'parley_rings_delivered_total',
      'Rings delivered to an online mailbox.',
      () => self.ringsDelivered,
    );
    counted('parley_rings_offline_total', 'Rings to a mailbox that was not online.', () => self.ringsOffline);
    const reported = new Map<RejectionReason, number>();
    new Counter({
      name: 'parley_rejections_total',
      help: 'Refused messages, upgrades and connections, by reason.',
      labelNames: ['reason'],
      registers: [this.registry],
      collect() {
        for (const [reason, count] of self.rejections) {
          this.inc({ reason }, count - (reported.get(reason) ?? 0));
          reported.set(reason, count);
        }
      },
    });
  }

  reject(reason: RejectionReason): void {
    this.rejections.set(reason, (this.rejections.get(reason) ?? 0) + 1);
  }
}
