// The fake ComfyUI in its own process for benchmarks: zero-duration nodes unless BENCH_NODE_MS says otherwise.
// BENCH_FAKE_RECORD=1: it also keeps when it sent each prompt's websocket events (epoch ms, this machine's
// clock) and serves them at a route of a second server (RECORDING <url>):
// GET answers them as JSON and forgets them. What the fake sends is unchanged.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFakeComfy } from '../../test/fake-comfyui/index.js';

/** [promptId, event, at (epoch ms), node, value] of each websocket event sent that names a prompt. */
type Sent = [string, string, number, string | null, number | null];

// BENCH_FAKE_DIR: its input/output/temp folders there (a bench that gives the bridge its output folder, P9's BENCH_P9_LOCAL_OUTPUTS).
const fake = await startFakeComfy({ nodeDurationMs: Number(process.env.BENCH_NODE_MS ?? 0), dir: process.env.BENCH_FAKE_DIR });
// BENCH_SLEEP_NODE_MS: TestSleep nodes alone take that long (P9's two-output workflow, BENCH_P9_TWO_OUTPUTS).
if (process.env.BENCH_SLEEP_NODE_MS) fake.setNodeDuration('TestSleep', Number(process.env.BENCH_SLEEP_NODE_MS));
process.stdout.write(`LISTENING ${fake.url}\n`);
if (process.env.BENCH_FAKE_RECORD === '1') {
  let sent: Sent[] = [];
  fake.onEventSent = (event, data, _sid, at) => {
    const fields = data as { prompt_id?: unknown; node?: unknown; value?: unknown };
    if (typeof fields.prompt_id !== 'string') return;
    sent.push([fields.prompt_id, event, at, typeof fields.node === 'string' ? fields.node : null, typeof fields.value === 'number' ? fields.value : null]);
  };
  const server = createServer((_req, res) => {
    const body = JSON.stringify(sent);
    sent = [];
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.stdout.write(`RECORDING http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
}
process.on('SIGTERM', () => {
  void fake.stop().then(() => process.exit(0));
});
