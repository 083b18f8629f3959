/**
 * Entry point: `node --import tsx server/main.ts`. Configuration: see server/config.ts.
 */
import { createParleyServer } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './log.ts';

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`Parley server: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  let server: ReturnType<typeof createParleyServer>;
  try {
    server = createParleyServer(config, log);
  } catch (err) {
    log.fatal({ err }, 'could not start');
    process.exit(1);
  }

  // Before listening: the 'listening' line tells a supervisor it may signal us, so the
  // handlers must already be in place (a SIGTERM right after it used to kill the process).
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    server
      .close()
      .then(() => {
        log.info('stopped');
        process.exit(0);
      })
      .catch((err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  let port: number;
  try {
    port = await server.listen();
  } catch (err) {
    log.fatal({ err }, 'could not start');
    process.exit(1);
  }
  if (stopping) return;
  log.info(
    {
      port,
      host: config.host,
      tls: config.tlsCert !== null,
      roomCapacity: config.roomCapacity,
      allowedOrigins: config.allowedOrigins,
      turn: config.turnUrls.length > 0 && config.turnSecret !== null,
    },
    'listening',
  );
}

await main();
