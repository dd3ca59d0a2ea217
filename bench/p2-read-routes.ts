/**
 * P2: read routes of the bridge (/workflow-list, /workflow-info, /health) against a bare Koa hello-world in
 * the same run, each server pinned to core 0 and autocannon to core 1. Target: ≥ 0.8 of bare Koa.
 */
import autocannon from 'autocannon';
import { fileURLToPath } from 'node:url';
import { pinSelf, startServerProcess } from './lib/process.js';
import { medianOf3, round } from './lib/stats.js';

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

async function requestsPerSecond(url: string): Promise<number> {
  const result = await autocannon({ url, connections: 50, duration: 4, pipelining: 1 });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return result.requests.average;
}

export async function run(): Promise<Record<string, number>> {
  pinSelf(1);
  const bare = await startServerProcess(here('./servers/bare-koa.ts'));
  const bridge = await startServerProcess(here('./servers/bridge.ts'));
  try {
    return await medianOf3(async () => {
      const baseline = await requestsPerSecond(`${bare.url}/`);
      const health = await requestsPerSecond(`${bridge.url}/health`);
      const list = await requestsPerSecond(`${bridge.url}/workflow-list`);
      const info = await requestsPerSecond(`${bridge.url}/workflow-info?workflow=text-to-image`);
      return {
        bare_koa_rps: round(baseline, 0),
        health_rps: round(health, 0),
        workflow_list_rps: round(list, 0),
        workflow_info_rps: round(info, 0),
        health_ratio: round(health / baseline, 3),
        workflow_list_ratio: round(list / baseline, 3),
        workflow_info_ratio: round(info / baseline, 3),
      };
    });
  } finally {
    await bare.stop();
    await bridge.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${JSON.stringify(await run())}\n`);
}
