// The fake ComfyUI in its own process for benchmarks: zero-duration nodes unless BENCH_NODE_MS says otherwise.
import { startFakeComfy } from '../../test/fake-comfyui/index.js';

const fake = await startFakeComfy({ nodeDurationMs: Number(process.env.BENCH_NODE_MS ?? 0) });
process.stdout.write(`LISTENING ${fake.url}\n`);
process.on('SIGTERM', () => {
  void fake.stop().then(() => process.exit(0));
});
