import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../core/app.js';
import { BootError } from '../core/errors.js';
import type { ParsedCommand } from './args.js';
import { configFrom } from './config-from.js';

export async function printOpenApi(parsed: ParsedCommand): Promise<number> {
  const { config } = await configFrom(parsed);
  // Serve the real route on a throwaway port and data dir, so the printed document is the served one
  // and a running server's data dir (and its lock) is never touched.
  const dataDir = await mkdtemp(join(tmpdir(), 'comfy-bridge-openapi-'));
  const app = await createApp({ ...config, dataDir, log: { ...config.log, level: 'silent' }, server: { ...config.server, host: '127.0.0.1', port: 0 } });
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
