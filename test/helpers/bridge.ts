import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type BridgeApp } from '../../core/app.js';
import { loadConfig } from '../../cli/config/load.js';
import type { PluginManifest } from '../../core/plugin.js';
import type { Logger } from 'pino';
import type { Clock } from '../../core/timers.js';

export interface StartBridgeOptions {
  /** Only these plugins are loaded (name → options). */
  plugins?: Record<string, Record<string, unknown> | false>;
  extraPlugins?: readonly PluginManifest<never>[];
  /** Kernel config overrides (server, log, dataDir...). */
  config?: Record<string, unknown>;
  /** Log here instead of the configured logger (tests that check what was logged). */
  log?: Logger;
  /** The plugins' clock (default: the system's). */
  clock?: Clock;
}

export interface RunningBridge {
  url: string;
  port: number;
  app: BridgeApp;
  dataDir: string;
  close(): Promise<void>;
}

/** A real bridge on 127.0.0.1:0 with a fresh temp data dir (removed on close unless given). */
export async function startBridge(options: StartBridgeOptions = {}): Promise<RunningBridge> {
  const ownDataDir = options.config?.dataDir === undefined;
  const dataDir = (options.config?.dataDir as string | undefined) ?? (await mkdtemp(join(tmpdir(), 'comfy-bridge-test-')));
  // A bridge that refuses its config or fails to start still leaves no temp folder behind.
  const dropDataDir = () => (ownDataDir ? rm(dataDir, { recursive: true, force: true }) : Promise.resolve());
  let app;
  let address;
  try {
    const config = await loadConfig({
      inline: {
        log: { level: process.env.TEST_LOG_LEVEL ?? 'silent' },
        ...options.config,
        server: { host: '127.0.0.1', port: 0, shutdownTimeoutMs: 2000, ...(options.config?.server as object | undefined) },
        dataDir,
        plugins: options.plugins ?? {},
      },
      env: {},
    });
    app = await createApp(config, { plugins: options.extraPlugins, log: options.log, clock: options.clock });
  } catch (error) {
    await dropDataDir();
    throw error;
  }
  try {
    address = await app.start();
  } catch (error) {
    await app.close();
    await dropDataDir();
    throw error;
  }
  const { url, port } = address;
  return {
    url,
    port,
    app,
    dataDir,
    async close() {
      await app.close();
      await dropDataDir();
    },
  };
}
