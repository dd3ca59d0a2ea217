/**
 * The fake ComfyUI in a process of its own, so a test can SIGSTOP (freeze), SIGCONT and SIGKILL it
 * for real (test/helpers/fake-comfy-process.ts spawns it). Argument: the FakeComfyOptions as JSON,
 * plus `durations` (class → ms). Prints one line `{"port":N,"control":M}` once listening. The
 * control server (another port, same process) answers GET /prompts with every POST /prompt the fake
 * received; it is frozen with the fake, so ask it only while the process runs.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFakeComfy, type FakeComfyOptions } from './index.js';

interface ChildOptions extends FakeComfyOptions {
  durations?: Record<string, number>;
}

const options = JSON.parse(process.argv[2] ?? '{}') as ChildOptions;
const fake = await startFakeComfy(options);
for (const [classType, ms] of Object.entries(options.durations ?? {})) fake.setNodeDuration(classType, ms);

const control = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/prompts') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(fake.prompts.map(({ promptId, clientId, accepted }) => ({ promptId, clientId, accepted }))));
    return;
  }
  res.writeHead(404).end();
});
await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
process.stdout.write(`${JSON.stringify({ port: fake.port, control: (control.address() as AddressInfo).port })}\n`);
process.once('SIGTERM', () => {
  control.close();
  void fake.stop().then(() => process.exit(0));
});
