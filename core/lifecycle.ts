// How a proxy process lives: start it, report ready, and on SIGTERM, SIGINT or its own quit
// request close it once and exit (0 when the close went well, 1 otherwise).
import { errorMessage } from '#core/errors.ts';
import type { Logger } from '#core/log.ts';

export interface Closable {
  close(): Promise<void>;
}

export async function runUntilStopped<T extends Closable>(logger: Logger, start: (stop: (why: string) => void) => Promise<T>): Promise<T> {
  const holder: { running?: T } = {};
  let stopping = false;
  const stop = (why: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { why });
    const done = holder.running === undefined ? Promise.resolve() : holder.running.close();
    done.then(() => process.exit(0), (err: unknown) => {
      logger.error('shutdown failed', { err: errorMessage(err) });
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  holder.running = await start(stop);
  return holder.running;
}
