import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type BridgeApp } from '../app.js';
import { loadConfig, redactConfig } from '../config/load.js';
import { resolvePlugins } from '../loader/resolve.js';
import { orderPlugins } from '../loader/order.js';
import { validateOptions } from '../loader/options.js';
import { BootError } from '../errors.js';
import { parseCommandLine, USAGE, type ParsedCommand } from './args.js';
import { writeStarterConfig } from './init.js';

/** Entry point of bin/comfy-bridge.js. Exit codes: 0 ok, 1 refused to start, 2 usage. */
export async function main(argv: string[]): Promise<number> {
  let parsed: ParsedCommand;
  try {
    parsed = parseCommandLine(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const [command, sub] = parsed.command;
  if (parsed.help || command === undefined || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined && !parsed.help ? 2 : 0;
  }
  try {
    if (command === 'serve') return await serve(parsed);
    if (command === 'config' && sub === 'check') return await checkConfig(parsed);
    if (command === 'init') return await writeStarterConfig(parsed.force);
    if (command === 'openapi') return await printOpenApi(parsed);
  } catch (error) {
    if (error instanceof BootError) {
      process.stderr.write(`comfy-bridge: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  process.stderr.write(`unknown command "${parsed.command.join(' ')}"\n\n${USAGE}`);
  return 2;
}

const configFrom = (parsed: ParsedCommand) => loadConfig({ file: parsed.configFile, env: process.env, flags: parsed.flags });

async function serve(parsed: ParsedCommand): Promise<number> {
  const app = await createApp(await configFrom(parsed));
  try {
    await app.start();
  } catch (error) {
    app.log.fatal({ err: error }, 'could not start');
    await app.close();
    return 1;
  }
  return waitForSignal(app);
}

/** SIGINT/SIGTERM close gracefully (exit 0); a second signal while closing exits at once. */
function waitForSignal(app: BridgeApp): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        app.log.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
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

async function checkConfig(parsed: ParsedCommand): Promise<number> {
  const config = await configFrom(parsed);
  const plugins = orderPlugins(await resolvePlugins(config));
  const effective = { ...config, plugins: Object.fromEntries(plugins.map((p) => [p.manifest.name, validateOptions(p)])) };
  process.stdout.write(`${JSON.stringify(redactConfig(effective), null, 2)}\n`);
  process.stderr.write(`config ok: ${plugins.length} plugins (${plugins.map((p) => p.manifest.name).join(', ')})\n`);
  return 0;
}

async function printOpenApi(parsed: ParsedCommand): Promise<number> {
  const config = await configFrom(parsed);
  // Serve the real route on a throwaway port and data dir, so the printed document is the served one
  // and a running server's data dir (and its lock) is never touched.
  const dataDir = await mkdtemp(join(tmpdir(), 'comfy-bridge-openapi-'));
  const app = await createApp({ ...config, dataDir, log: { level: 'silent' }, server: { ...config.server, host: '127.0.0.1', port: 0 } });
  try {
    const { url } = await app.start();
    const response = await fetch(`${url}/openapi.json`);
    if (!response.ok) throw new BootError(`the configured plugins serve no OpenAPI document (GET /openapi.json → ${response.status})`);
    process.stdout.write(`${JSON.stringify(await response.json(), null, 2)}\n`);
  } finally {
    await app.close();
    await rm(dataDir, { recursive: true, force: true });
  }
  return 0;
}
