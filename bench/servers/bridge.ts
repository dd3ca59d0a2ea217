// A real bridge for benchmarks: the default plugins, an in-memory or file store, the given backends.
import { rm } from 'node:fs/promises';
import { importBridge } from '../lib/bridge-code.js';
import { scratchDir } from '../lib/scratch.js';

const { createApp } = await importBridge<typeof import('../../core/app.js')>('core/app');
const { loadConfig } = await importBridge<typeof import('../../cli/config/load.js')>('cli/config/load');

// A data dir made here is removed when the bench stops this bridge: the 1 MiB uploads and results of a run add up to
// gigabytes, and a few hundred runs once filled the disk.
const ownDataDir = process.env.BENCH_DATA_DIR ? undefined : await scratchDir('cb-bench-');
// BENCH_BACKEND_OUTPUT_DIR: the (single) backend's output folder as this machine sees it (comfyui's backends[].outputDir).
const outputDir = process.env.BENCH_BACKEND_OUTPUT_DIR;
const backends = (process.env.BENCH_BACKENDS ?? 'http://127.0.0.1:9').split(',').map((url) => ({ url, ...(outputDir ? { outputDir } : {}) }));
const config = await loadConfig({
  env: {},
  flags: {
    dataDir: process.env.BENCH_DATA_DIR ?? ownDataDir,
    log: { level: 'silent' },
    // BENCH_REGISTER_TIMEOUT_MS: for stores that load every row at register().
    server: {
      port: 0,
      ...(process.env.BENCH_REGISTER_TIMEOUT_MS ? { registerTimeoutMs: Number(process.env.BENCH_REGISTER_TIMEOUT_MS) } : {}),
      // BENCH_MAX_CONNECTIONS: benches that hold more sockets than the default cap (4096), e.g. P4's 10,000 idle ones.
      ...(process.env.BENCH_MAX_CONNECTIONS ? { maxConnections: Number(process.env.BENCH_MAX_CONNECTIONS) } : {}),
    },
    // The bench sets its own caps: the queue bound (generate.maxActive, 1000 by default) would turn the
    // loaded and queued scenarios into 429s, which measure the refusal, not the bridge.
    plugins: { comfyui: { backends }, generate: { maxActive: 1_000_000, maxActivePerClient: 10_000 }, ...(process.env.BENCH_PLUGINS ? (JSON.parse(process.env.BENCH_PLUGINS) as object) : {}) },
  },
});
const app = await createApp(config);
const { url } = await app.start();
process.stdout.write(`LISTENING ${url}\n`);
process.on('SIGTERM', () => {
  void app
    .close()
    .then(() => (ownDataDir ? rm(ownDataDir, { recursive: true, force: true }) : undefined))
    .then(() => process.exit(0));
});
