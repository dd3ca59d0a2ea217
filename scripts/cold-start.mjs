#!/usr/bin/env node
// Cold start of the CLI, as docs/performance.md reports it: the median of N runs of `--help` (process start to
// exit) and of `serve` on the embedded defaults (process start to the "listening" log line), empty data dir,
// port 0. usage: node scripts/cold-start.mjs [path/to/bin/comfy-bridge.js] [runs]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const bin = process.argv[2] ?? new URL('../bin/comfy-bridge.js', import.meta.url).pathname;
const runs = Number(process.argv[3] ?? 7);
const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];

function once(args, untilLine) {
  const dataDir = mkdtempSync(join(tmpdir(), 'cb-cold-'));
  const started = performance.now();
  const child = spawn(process.execPath, [bin, ...args], {
    env: { PATH: process.env.PATH, COMFY_BRIDGE_PORT: '0', COMFY_BRIDGE_DATA_DIR: dataDir, COMFY_BRIDGE_COMFYUI_URLS: 'http://127.0.0.1:9', COMFY_BRIDGE_LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return new Promise((resolve) => {
    let output = '';
    let ms;
    child.stdout.on('data', (chunk) => {
      output += chunk;
      if (untilLine && ms === undefined && output.includes(untilLine)) {
        ms = performance.now() - started;
        child.kill('SIGTERM');
      }
    });
    child.on('exit', () => {
      rmSync(dataDir, { recursive: true, force: true });
      resolve(ms ?? performance.now() - started);
    });
  });
}

const help = [];
const serve = [];
for (let i = 0; i < runs; i++) {
  help.push(await once(['serve', '--help']));
  serve.push(await once(['serve'], '"msg":"listening"'));
}
console.log(JSON.stringify({ bin, runs, help_ms: Math.round(median(help)), serve_to_listening_ms: Math.round(median(serve)) }));
