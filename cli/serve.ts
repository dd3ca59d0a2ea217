import { createApp, type BridgeApp } from '../core/app.js';
import { flushLogs } from '../lib/log-destination.js';
import { processLogger } from './log.js';
import type { ParsedCommand } from './args.js';
import { configFrom } from './config-from.js';
import { startupErrorLine } from './startup-error.js';

/** How long exit waits for the log to drain: a dead stdout must not hold the process. */
const FLUSH_DEADLINE_MS = 2000;

export async function serve(parsed: ParsedCommand): Promise<number> {
  const { config } = await configFrom(parsed);
  let app: BridgeApp | undefined;
  try {
    app = await createApp(config, { log: processLogger(config.log) });
    await app.start();
  } catch (error) {
    const line = startupErrorLine(error, config);
    if (line === undefined) app?.log.fatal({ err: error }, 'could not start');
    await app?.close();
    await flushLogs(FLUSH_DEADLINE_MS);
    if (line === undefined && app) return 1;
    if (line === undefined) throw error;
    process.stderr.write(`comfy-bridge: ${line}\n`);
    return 1;
  }
  const code = await waitForSignal(app);
  await flushLogs(FLUSH_DEADLINE_MS);
  return code;
}

/** SIGINT/SIGTERM close gracefully (exit 0); a second signal while closing exits at once. */
function waitForSignal(app: BridgeApp): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        app.log.warn({ signal }, 'second signal: exiting now');
        void flushLogs(200).then(() => process.exit(1));
        return;
      }
      stopping = true;
      app.log.info({ signal }, 'signal received');
      app.close().then(
        () => resolve(0),
        (error: unknown) => {
          app.log.error({ err: error }, 'close failed');
          resolve(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
