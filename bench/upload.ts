/**
 * P7: uploads through the bridge's POST /upload (type, header, pixel and completeness checks all on)
 * against a bare Node server that only streams the body into a file, in the same run: one 64 MiB PNG
 * (MiB/s), then 4 rounds of 50 concurrent 1 MiB PNGs (uploads/s), and the server's RSS growth. Each server runs
 * in its own process pinned to core 0; this process (the client: node:http, bodies prebuilt in
 * memory, so the client costs little) runs on core 1. Median of 3. Besides uploads/s, each side's CPU
 * per 1 MiB upload (utime + stime of the server process from /proc, its thread pool and libvips
 * threads included), and the bridge/bare ratio of each run (the ratio moves less than either side on a
 * loaded machine, where the disk's writeback makes both swing).
 * A second baseline in the same runs (wave 14): the same sink making each file durable before it answers (fsync before
 * close, rename, folder fsync: bench/servers/bare-sink.ts, BENCH_SINK_DURABLE=1), so the bridge's gap splits into what
 * durability costs on this disk and what the bridge's own work costs.
 * A third (wave 15): that durable sink also parsing the multipart body with the bridge's parser and running the bridge's
 * PNG proof on the bytes (BENCH_SINK_CHECKED=1): the least a server can do that keeps both of the bridge's promises for
 * an upload, durability and the check; its ratio to the bare sink is the floor of the uploads target on this host.
 * BENCH_P7_COMPARE=<another checkout> adds that checkout's bridge as a third side in the same runs
 * (before/after in one run); it is measured after this checkout's bridge, or before it with BENCH_P7_COMPARE_FIRST=1 (with
 * the same code on both, the bridge measured last did 0.2 worse in a run: run a comparison both ways round). BENCH_P7_THREADS=1 also prints each side's CPU per upload by thread (main, libuv pool, V8 workers).
 * Run alone: `npx tsx bench/upload.ts`; the last line printed is the JSON result.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request } from 'node:http';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { makePngOfSize } from '../test/upload-images.js';
import { pinSelf, startServerProcess, type ServerProcess } from './lib/process.js';
import { medianOf3, round } from './lib/stats.js';
import { scratchDir } from './lib/scratch.js';

const MiB = 1024 * 1024;
const CONCURRENT = 50;
/** Batches of 50 concurrent uploads per sample: one batch lasts ~0.1 s, too short to measure steadily. */
const ROUNDS = 8;
/** BENCH_P7_THREADS=1 prints (to stderr) each side's CPU per upload split by thread: where the time is spent, not only how much. */
const THREADS = process.env.BENCH_P7_THREADS === '1';
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

/** A whole multipart/form-data body with one file part. */
function multipart(field: string, file: Buffer): { body: Buffer; contentType: string } {
  const boundary = `----bench${Math.random().toString(16).slice(2)}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${field}.png"\r\nContent-Type: image/png\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return { body: Buffer.concat([head, file, tail]), contentType: `multipart/form-data; boundary=${boundary}` };
}

/**
 * Connections kept alive within one side's measurement, never across: each side's server closes a connection
 * idle for 5 s (node's keepAliveTimeout), and while the other sides are measured under load that happens, so
 * a connection reused from an earlier phase could be closed under the first request (ECONNRESET / EPIPE).
 */
let agent = new Agent({ keepAlive: true, maxSockets: CONCURRENT });
function freshConnections(): void {
  agent.destroy();
  agent = new Agent({ keepAlive: true, maxSockets: CONCURRENT });
}

function post(url: string, upload: { body: Buffer; contentType: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', agent, headers: { 'content-type': upload.contentType, 'content-length': upload.body.length } },
      (res) => {
        let text = '';
        res.on('error', reject);
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.once('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${url}: HTTP ${res.statusCode} ${text}`))));
      },
    );
    // on, not once: a server that answers early and closes makes the body's write fail too (EPIPE after the
    // answer), and a second 'error' with no listener would crash the bench instead of naming the answer.
    req.on('error', reject);
    req.end(upload.body);
  });
}

async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) * 1024;
}

/** utime + stime of a process in ms (clock ticks of 10 ms): every thread of it. */
async function cpuMsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** utime + stime (ms) of each thread of a process, summed by thread name (main thread, libuv's pool, V8's workers). */
async function cpuMsByThread(pid: number): Promise<Map<string, number>> {
  const byName = new Map<string, number>();
  for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => undefined);
    if (!stat) continue;
    const name = tid === String(pid) ? 'main' : `${stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))}#${Number(tid) - pid}`;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    byName.set(name, (byName.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) * 10);
  }
  return byName;
}

/** Per thread name, the CPU (ms) spent between two readings, divided by `per`. */
function threadDelta(before: Map<string, number>, after: Map<string, number>, per: number): Record<string, number> {
  return Object.fromEntries([...after].map(([name, ms]) => [name, round((ms - (before.get(name) ?? 0)) / per, 2)]).filter(([, ms]) => (ms as number) > 0));
}

/** Runs `work` while sampling the server's RSS; its duration (ms), CPU (ms) and the growth over the start (MiB). */
async function measured(server: ServerProcess, work: () => Promise<void>): Promise<{ ms: number; cpuMs: number; rssGrowthMiB: number }> {
  const pid = server.child.pid!;
  const before = await rssOf(pid);
  const cpuBefore = await cpuMsOf(pid);
  let peak = before;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      // A server gone mid-run: its exit is reported (run()), and the next request fails.
      peak = Math.max(peak, await rssOf(pid).catch(() => peak));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  const started = performance.now();
  await work();
  const ms = performance.now() - started;
  const cpuMs = (await cpuMsOf(pid)) - cpuBefore;
  sampling = false;
  await sampler;
  return { ms, cpuMs, rssGrowthMiB: (Math.max(peak, await rssOf(pid)) - before) / MiB };
}

async function once(server: ServerProcess, path: string, big: Buffer, small: Buffer) {
  freshConnections();
  const bigUpload = multipart('big', big);
  const one = await measured(server, () => post(`${server.url}${path}`, bigUpload));
  const uploads = Array.from({ length: CONCURRENT }, (_, i) => multipart(`f${i}`, small));
  const threadsBefore = THREADS ? await cpuMsByThread(server.child.pid!) : undefined;
  const many = await measured(server, async () => {
    for (let round = 0; round < ROUNDS; round++) await Promise.all(uploads.map((upload) => post(`${server.url}${path}`, upload)));
  });
  if (threadsBefore) console.error(path, 'CPU ms per 1 MiB upload by thread:', JSON.stringify(threadDelta(threadsBefore, await cpuMsByThread(server.child.pid!), ROUNDS * CONCURRENT)));
  return {
    mib_per_s: round(big.length / MiB / (one.ms / 1000), 1),
    uploads_per_s: round((ROUNDS * CONCURRENT) / (many.ms / 1000), 1),
    cpu_ms_per_upload: round(many.cpuMs / (ROUNDS * CONCURRENT), 2),
    rss_growth_mib: round(Math.max(one.rssGrowthMiB, many.rssGrowthMiB), 1),
  };
}

/**
 * Each bridge gets a data dir this script makes and deletes: a run stores ~1.4 GiB of uploads per bridge,
 * which the bench server (killed at the end) would otherwise leave in the temp folder.
 */
async function bridgeEnv(): Promise<Record<string, string>> {
  return {
    BENCH_DATA_DIR: await scratchDir('cb-bench-p7-'),
    // Raised for the 64 MiB file; every check (type, header, pixels, completeness) stays on.
    BENCH_PLUGINS: JSON.stringify({ upload: { maxFileBytes: 80 * MiB, maxTotalBytes: 80 * MiB, maxParts: 4, maxPixels: 100_000_000 } }),
  };
}

export async function run(): Promise<Record<string, number>> {
  pinSelf(1);
  const big = makePngOfSize(64 * MiB);
  const small = makePngOfSize(MiB);
  const compare = process.env.BENCH_P7_COMPARE;
  const bridgeEnvs = [await bridgeEnv(), await bridgeEnv()];
  const sink = await startServerProcess(here('./servers/bare-sink.ts'));
  const durableSink = await startServerProcess(here('./servers/bare-sink.ts'), [], 0, { BENCH_SINK_DURABLE: '1' });
  const checkedSink = await startServerProcess(here('./servers/bare-sink.ts'), [], 0, { BENCH_SINK_CHECKED: '1' });
  const bridge = await startServerProcess(here('./servers/bridge.ts'), [], 0, bridgeEnvs[0]);
  const other = compare ? await startServerProcess(join(compare, 'bench/servers/bridge.ts'), [], 0, bridgeEnvs[1]) : undefined;
  // A server that dies mid-run (killed, crashed) shows here by name rather than as a missing /proc entry.
  let stopping = false;
  for (const [name, server] of [['bare sink', sink], ['durable sink', durableSink], ['checked sink', checkedSink], ['bridge', bridge], ['compared bridge', other]] as const) {
    server?.child.once('exit', (code, signal) => stopping || console.error(`P7: the ${name} exited (code ${code}, signal ${signal}) during the run`));
  }
  try {
    // Warm every side (JIT, first file in a new folder) before measuring.
    await post(`${sink.url}/`, multipart('w', small));
    await post(`${durableSink.url}/`, multipart('w', small));
    await post(`${checkedSink.url}/`, multipart('w', small));
    await post(`${bridge.url}/upload?clientId=bench`, multipart('w', small));
    if (other) await post(`${other.url}/upload?clientId=bench`, multipart('w', small));
    return await medianOf3(async () => {
      const bare = await once(sink, '/', big, small);
      const durableBare = await once(durableSink, '/', big, small);
      const checkedBare = await once(checkedSink, '/', big, small);
      // The bridge measured last did worse on this VM with the same code on both sides (0.44 against 0.64 of the sink in
      // one run): BENCH_P7_COMPARE_FIRST=1 measures the compared bridge before this one, to run a comparison both ways round.
      const compareFirst = other && process.env.BENCH_P7_COMPARE_FIRST === '1';
      const comparedFirst = compareFirst ? await once(other, '/upload?clientId=bench', big, small) : undefined;
      const bridged = await once(bridge, '/upload?clientId=bench', big, small);
      const compared = comparedFirst ?? (other && (await once(other, '/upload?clientId=bench', big, small)));
      return {
        bare_64mib_mib_per_s: bare.mib_per_s,
        bridge_64mib_mib_per_s: bridged.mib_per_s,
        bare_1mib_x50_uploads_per_s: bare.uploads_per_s,
        bridge_1mib_x50_uploads_per_s: bridged.uploads_per_s,
        bridge_to_bare_1mib: round(bridged.uploads_per_s / bare.uploads_per_s, 2),
        durable_sink_1mib_x50_uploads_per_s: durableBare.uploads_per_s,
        durable_sink_to_bare_1mib: round(durableBare.uploads_per_s / bare.uploads_per_s, 2),
        bridge_to_durable_sink_1mib: round(bridged.uploads_per_s / durableBare.uploads_per_s, 2),
        durable_sink_cpu_ms_per_upload: durableBare.cpu_ms_per_upload,
        checked_sink_1mib_x50_uploads_per_s: checkedBare.uploads_per_s,
        checked_sink_to_bare_1mib: round(checkedBare.uploads_per_s / bare.uploads_per_s, 2),
        bridge_to_checked_sink_1mib: round(bridged.uploads_per_s / checkedBare.uploads_per_s, 2),
        checked_sink_cpu_ms_per_upload: checkedBare.cpu_ms_per_upload,
        bare_cpu_ms_per_upload: bare.cpu_ms_per_upload,
        bridge_cpu_ms_per_upload: bridged.cpu_ms_per_upload,
        bare_rss_growth_mib: bare.rss_growth_mib,
        bridge_rss_growth_mib: bridged.rss_growth_mib,
        ...(compared && {
          compare_64mib_mib_per_s: compared.mib_per_s,
          compare_1mib_x50_uploads_per_s: compared.uploads_per_s,
          compare_to_bare_1mib: round(compared.uploads_per_s / bare.uploads_per_s, 2),
          compare_cpu_ms_per_upload: compared.cpu_ms_per_upload,
          compare_rss_growth_mib: compared.rss_growth_mib,
        }),
      };
    });
  } finally {
    stopping = true;
    agent.destroy();
    await sink.stop();
    await durableSink.stop();
    await checkedSink.stop();
    await bridge.stop();
    await other?.stop();
    await Promise.all(bridgeEnvs.map((env) => rm(env.BENCH_DATA_DIR!, { recursive: true, force: true })));
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await run()));
}
