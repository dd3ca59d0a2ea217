import { expect } from 'chai';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { ComfyBridgeClient, type SocketFrame, type WorkflowsOf } from '../client/src/index.js';
import { startStack, type Stack } from './e2e-support.js';
import { until } from './helpers/until.js';

type Sleepy = WorkflowsOf<{ workflow: 'sleepy'; '1/width'?: number }>;

/**
 * A TCP proxy in front of the bridge that the test can cut: every connection through it is destroyed
 * at once, as a network failure would (the client sees an abnormal close, 1006). It notes the request
 * line of each websocket upgrade, so the test sees the `since=` the client resumed with.
 */
async function cuttableProxy(target: number): Promise<{ url: string; upgrades: string[]; cut(): void; close(): Promise<void> }> {
  const live = new Set<Socket>();
  const upgrades: string[] = [];
  const server: Server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    live.add(client).add(upstream);
    client.once('data', (head: Buffer) => {
      const line = head.toString('latin1').split('\r\n', 1)[0]!;
      if (line.startsWith('GET /ws')) upgrades.push(line);
    });
    client.pipe(upstream).pipe(client);
    for (const socket of [client, upstream]) {
      socket.on('error', () => undefined);
      socket.on('close', () => {
        live.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    upgrades,
    cut: () => {
      for (const socket of live) socket.destroy();
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('client SDK: a socket cut mid-generation resumes with since=', function () {
  this.timeout(30_000);
  let stack: Stack;
  let proxy: Awaited<ReturnType<typeof cuttableProxy>>;

  before(async () => {
    stack = await startStack({});
    proxy = await cuttableProxy(stack.bridge.port);
  });
  after(async () => {
    proxy?.cut();
    await proxy?.close();
    await stack?.stop();
  });

  it('follow() loses no frame and repeats none across two cuts, and done() still resolves', async () => {
    stack.fake.setNodeDuration('TestSleep', 1500);
    const client = new ComfyBridgeClient<Sleepy>({ baseUrl: proxy.url });
    const stream = client.follow(client.clientId, { reconnect: { initialMs: 20, maxMs: 100 } });
    await stream.opened;
    const generation = await client.generate('sleepy', { '1/width': 10 });

    const frames: SocketFrame[] = [];
    let cuts = 0;
    for await (const frame of stream) {
      frames.push(frame);
      // Cut the network twice while the sampler runs, each time once a fresh socket is open.
      if (frame.data?.state === 'running' && cuts < 2 && stream.connections === cuts + 1) {
        cuts++;
        proxy.cut();
      }
    }
    expect(cuts).to.equal(2);
    expect(stream.connections).to.equal(3);
    // Every generation frame once, in order: seq goes up by exactly one from the first to the last.
    const seqs = frames.map((frame) => frame.seq!);
    expect(seqs, JSON.stringify(seqs)).to.deep.equal(seqs.map((_, i) => seqs[0]! + i));
    expect(frames.every((frame) => frame.data?.id === generation.id)).to.equal(true);
    expect(frames.at(-1)).to.include({ status: 'closed', details: 'Execution is done' });
    expect(frames.at(-2)).to.include({ status: 'progress', details: '100.00%' });
    // The reconnections asked for what they missed.
    expect(proxy.upgrades).to.have.length(3);
    expect(proxy.upgrades[0]).not.to.contain('since=');
    const resumedAfter = proxy.upgrades.slice(1).map((line) => Number(/since=(\d+)/.exec(line)?.[1]));
    expect(resumedAfter.every((since) => seqs.includes(since))).to.equal(true);

    const { urls } = await generation.done();
    expect(urls).to.deep.equal(frames.at(-1)!.data!.result_urls);
  });

  it('done() alone survives a cut while it waits', async () => {
    // The sampler is held once it starts, so the cut lands while the generation runs however slow the machine.
    stack.fake.setNodeDuration('TestSleep', 5);
    const release = stack.fake.holdNode('TestSleep');
    const client = new ComfyBridgeClient<Sleepy>({ baseUrl: proxy.url });
    const generation = await client.generate('sleepy');
    const before = proxy.upgrades.length;
    const done = generation.done();
    await until(() => proxy.upgrades.length > before, 'done() to open its socket');
    await until(async () => (await client.executionInfo({ id: generation.id })).data.state === 'running', 'the generation to run', 5000);
    proxy.cut();
    release();
    const { urls } = await done;
    expect(urls).to.have.length(1);
    expect(proxy.upgrades.length - before).to.equal(2);
    expect(proxy.upgrades.at(-1)).to.match(/since=\d+/);
  });
});
