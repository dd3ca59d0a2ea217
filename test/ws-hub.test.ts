import { expect } from 'chai';
import sinon from 'sinon';
import type { Socket } from 'node:net';
import type { WsStats } from '../plugins/ws/api.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { FrameReader, refusedUpgrade, wsUrl, type Frame } from './ws-client.js';
import { StubGenerations, stubGenerationsPlugin } from './ws-stub-generations.js';
import { delay, drainUntilClosed, eventually, grabWsStats, stalledSocket } from './ws-support.js';
import { ManualClock } from './helpers/manual-clock.js';
import { clientTopic, frameDataEncoders, type ClientFrame } from '../contracts/client-frame.js';

/**
 * The ws plugin over real sockets, fed through the real bus by a scriptable generations service that
 * renders its frames the way plugins/generations does.
 */
describe('ws plugin (real sockets, scripted generations)', () => {
  let bridge: RunningBridge | undefined;
  let stub: StubGenerations;
  const grabbed: { stats?: WsStats } = {};
  const readers: FrameReader[] = [];
  const rawSockets: Socket[] = [];

  async function start(options: Record<string, unknown> = {}, clock?: ManualClock): Promise<RunningBridge> {
    stub = new StubGenerations();
    bridge = await startBridge({
      plugins: { bus: {}, ws: { heartbeatMs: 60_000, ...options } },
      extraPlugins: [stubGenerationsPlugin(stub), grabWsStats(grabbed)],
      clock,
    });
    return bridge;
  }

  async function open(query: string): Promise<FrameReader> {
    const reader = await FrameReader.open(wsUrl(bridge!.url, query));
    readers.push(reader);
    await reader.next((frame) => frame.status === 'connected');
    return reader;
  }

  afterEach(async () => {
    for (const reader of readers.splice(0)) reader.close();
    for (const socket of rawSockets.splice(0)) socket.destroy();
    await bridge?.close();
    bridge = undefined;
  });

  describe('handshake', () => {
    it('sends connected first, then listening heartbeats without seq', async () => {
      await start({ heartbeatMs: 30 });
      const reader = await FrameReader.open(wsUrl(bridge!.url, '?clientId=alpha'));
      readers.push(reader);
      expect(await reader.next()).to.deep.equal({ status: 'connected', details: 'server connected' });
      expect(await reader.next()).to.deep.equal({ status: 'listening', details: 'server is listening' });
      expect(await reader.next()).to.deep.equal({ status: 'listening', details: 'server is listening' });
    });

    it('beats every socket, more sockets than one turn of the event loop sends to', async () => {
      await start({ heartbeatMs: 50 });
      // 260 sockets: over the 250 the hub sends its heartbeat to per turn.
      const all = await Promise.all(Array.from({ length: 260 }, (_, i) => open(`?clientId=beat-${i}`)));
      await Promise.all(all.map((reader) => reader.next((frame) => frame.status === 'listening')));
      for (const reader of all) expect(reader.frames.filter((frame) => frame.status === 'listening').length).to.be.at.least(1);
    });

    it('refuses a missing or invalid clientId with 400 and the error body', async () => {
      await start();
      for (const query of ['', '?clientId=', `?clientId=${'a'.repeat(129)}`, '?clientId=bad%2Fslash', '?clientId=a&clientId=b']) {
        const refused = await refusedUpgrade(wsUrl(bridge!.url, query));
        expect(refused.status, query).to.equal(400);
        expect(refused.body.error).to.equal('bad_request');
        expect(refused.body.detail).to.match(/clientId/);
      }
      expect(grabbed.stats!.snapshot().rejectedTotal).to.equal(5);
      expect(grabbed.stats!.snapshot().connected).to.equal(0);
    });

    it('refuses a malformed since with 400', async () => {
      await start();
      const refused = await refusedUpgrade(wsUrl(bridge!.url, '?clientId=alpha&since=-1'));
      expect(refused.status).to.equal(400);
      expect(refused.body.detail).to.match(/since/);
    });

    it('answers 404 for an upgrade on another path', async () => {
      await start();
      const refused = await refusedUpgrade(`${bridge!.url.replace(/^http/, 'ws')}/elsewhere?clientId=alpha`);
      expect(refused.status).to.equal(404);
      expect(refused.body.error).to.equal('not_found');
    });

    it('answers a plain GET /ws with 426 (and 400 without clientId)', async () => {
      await start();
      const plain = await fetch(`${bridge!.url}/ws?clientId=alpha`);
      expect(plain.status).to.equal(426);
      const plainBody = (await plain.json()) as { error: string };
      expect(plainBody.error, JSON.stringify(plainBody)).to.equal('upgrade_required');
      expect((await fetch(`${bridge!.url}/ws`)).status).to.equal(400);
    });

    it('caps the sockets one clientId may hold', async () => {
      await start({ maxSocketsPerClient: 2 });
      await open('?clientId=alpha');
      await open('?clientId=alpha');
      const refused = await refusedUpgrade(wsUrl(bridge!.url, '?clientId=alpha'));
      expect(refused.status).to.equal(429);
      await open('?clientId=beta');
      expect(grabbed.stats!.snapshot().connected).to.equal(3);
      expect(grabbed.stats!.snapshot().clientIds).to.equal(2);
      // The two numbers /metrics reads.
      expect(grabbed.stats!.clients()).to.equal(3);
      expect(grabbed.stats!.droppedSlowConsumers()).to.equal(0);
    });
  });

  describe('generation frames', () => {
    it('numbers progress frames, skips unchanged ones, and ends with 100.00%, closed and code 1000', async () => {
      await start();
      const reader = await open('?clientId=alpha');
      const gen = stub.add({ clientId: 'alpha' });
      stub.update(gen.id, { state: 'running', percent: 0 });
      stub.update(gen.id, { state: 'running', percent: 25 });
      stub.update(gen.id, { state: 'running', percent: 25, position: 3 }); // nothing a client sees changed
      stub.update(gen.id, { state: 'running', percent: 50 });
      stub.update(gen.id, { state: 'completed', percent: 100, results: [{ filename: 'a.png', contentType: 'image/png', size: 1, node: '9', kind: 'images' }] });
      const closed = await reader.untilClosed();
      expect(closed.code).to.equal(1000);
      const frames = reader.generationFrames();
      expect(frames.map((frame) => [frame.status, frame.details])).to.deep.equal([
        ['progress', '0.00%'],
        ['progress', '0.00%'],
        ['progress', '25.00%'],
        ['progress', '50.00%'],
        ['progress', '100.00%'],
        ['closed', 'Execution is done'],
      ]);
      expect(frames.map((frame) => frame.seq)).to.deep.equal([1, 2, 3, 4, 5, 6]);
      for (const frame of frames) expect(frame.data!.id).to.equal(gen.id);
      expect(frames.at(-1)!.data!.result_urls).to.deep.equal([`http://stub.invalid/results/${gen.id}/a.png`]);
    });

    it('sends error, then closed, then closes when the generation fails', async () => {
      await start();
      const reader = await open('?clientId=alpha');
      const gen = stub.add({ clientId: 'alpha', state: 'running' });
      stub.update(gen.id, { state: 'failed', error: 'KSampler: out of memory' });
      expect((await reader.untilClosed()).code).to.equal(1000);
      const frames = reader.generationFrames().map((frame) => [frame.status, frame.details, frame.data!.id]);
      expect(frames.slice(-2)).to.deep.equal([
        ['error', 'KSampler: out of memory', gen.id],
        ['closed', 'Execution ended: failed', gen.id],
      ]);
    });

    it('keeps the socket open until every generation of the client ended', async () => {
      await start();
      const reader = await open('?clientId=alpha');
      const first = stub.add({ clientId: 'alpha', state: 'running' });
      const second = stub.add({ clientId: 'alpha', state: 'running' });
      stub.update(first.id, { state: 'completed' });
      await reader.next((frame) => frame.status === 'closed' && frame.data?.id === first.id);
      // A later frame of the other generation arrives: the socket was not closed after the first one's end.
      stub.update(second.id, { percent: 42 });
      await reader.next((frame) => frame.data?.id === second.id && frame.data.percent === 42);
      expect(reader.ws.readyState).to.equal(reader.ws.OPEN);
      stub.update(second.id, { state: 'completed' });
      expect((await reader.untilClosed()).code).to.equal(1000);
    });

    it('keeps the socket open after closed when closeOnDone is false', async () => {
      await start({ closeOnDone: false, heartbeatMs: 30 });
      const reader = await open('?clientId=alpha');
      const gen = stub.add({ clientId: 'alpha', state: 'running' });
      stub.update(gen.id, { state: 'completed' });
      await reader.next((frame) => frame.status === 'closed');
      await reader.next((frame) => frame.status === 'listening');
      expect(reader.ws.readyState).to.equal(reader.ws.OPEN);
    });

    it('sends the same frames to every socket of a clientId and none to other clients', async () => {
      await start();
      const tab1 = await open('?clientId=alpha');
      const tab2 = await open('?clientId=alpha');
      const other = await open('?clientId=beta');
      const gen = stub.add({ clientId: 'alpha', state: 'running', percent: 10 });
      const otherGen = stub.add({ clientId: 'beta', state: 'running', percent: 70 });
      stub.update(gen.id, { state: 'completed' });
      await Promise.all([tab1.untilClosed(), tab2.untilClosed()]);
      expect(tab1.generationFrames()).to.deep.equal(tab2.generationFrames());
      expect(tab1.generationFrames().every((frame) => frame.data!.id === gen.id)).to.equal(true);
      await other.next((frame) => frame.seq !== undefined);
      expect(other.generationFrames().every((frame) => frame.data!.id === otherGen.id)).to.equal(true);
      expect(other.ws.readyState).to.equal(other.ws.OPEN);
    });
  });

  describe('sockets coming and going', () => {
    it('delivers to whichever sockets of a client are open as others close: two, then one, then another one', async () => {
      await start();
      const first = await open('?clientId=alpha');
      const second = await open('?clientId=alpha');
      const gen = stub.add({ clientId: 'alpha', state: 'running', percent: 10 });
      await Promise.all([first, second].map((tab) => tab.next((frame) => frame.data?.percent === 10)));
      first.close();
      await first.closed;
      await eventually(() => grabbed.stats!.snapshot().connected === 1, 2000, 'server noticed the first close');
      stub.update(gen.id, { percent: 20 });
      await second.next((frame) => frame.data?.percent === 20);
      const third = await open('?clientId=alpha');
      second.close();
      await second.closed;
      await eventually(() => grabbed.stats!.snapshot().connected === 1, 2000, 'server noticed the second close');
      stub.update(gen.id, { percent: 30 });
      await third.next((frame) => frame.data?.percent === 30);
      const fourth = await open('?clientId=alpha');
      stub.update(gen.id, { percent: 40 });
      await Promise.all([third, fourth].map((tab) => tab.next((frame) => frame.data?.percent === 40)));
    });
  });

  describe('serialisation', () => {
    it('encodes a frame once per clientId, however many sockets the client has open', async () => {
      await start();
      const tabs = await Promise.all([open('?clientId=alpha'), open('?clientId=alpha'), open('?clientId=alpha')]);
      const gen = stub.add({ clientId: 'alpha', state: 'running', percent: 10 });
      await Promise.all(tabs.map((tab) => tab.next((frame) => frame.data?.percent === 10)));
      // A wire frame is the only object stringified with both status and seq.
      const stringify = sinon.spy(JSON, 'stringify');
      try {
        stub.update(gen.id, { percent: 40 });
        stub.update(gen.id, { percent: 70 });
        await Promise.all(tabs.map((tab) => tab.next((frame) => frame.data?.percent === 70)));
        const wireFrames = stringify.args.filter(([value]) => typeof value === 'object' && value !== null && 'status' in value && 'seq' in value);
        expect(wireFrames.map(([value]) => (value as Frame).data!.percent)).to.deep.equal([40, 70]);
      } finally {
        stringify.restore();
      }
    });

    it('writes a frame with the encoder its publisher registered for the data: byte for byte JSON.stringify of the frame, without JSON.stringify', async () => {
      await start();
      const reader = await open('?clientId=alpha');
      const texts: string[] = [];
      reader.ws.on('message', (bytes: Buffer) => texts.push(bytes.toString()));
      const data = { id: 'gen_encoded', state: 'running', percent: 12.5, node: 'n"1 é', result_urls: [], error_message: null };
      const text = JSON.stringify(data);
      const used: object[] = [];
      frameDataEncoders.set(data, { encode: (value) => (used.push(value), text) });
      const frame: ClientFrame = { status: 'progress', details: '12.50%', data, generationId: 'gen_encoded', ends: false, active: 1 };
      const stringify = sinon.spy(JSON, 'stringify');
      let seq: number | undefined;
      try {
        await stub.bus!.publish<ClientFrame>(clientTopic('alpha'), frame);
        seq = (await reader.next((received) => received.seq !== undefined)).seq;
        expect(stringify.args.filter(([value]) => typeof value === 'object' && value !== null && ('seq' in value || 'percent' in value))).to.have.length(0);
      } finally {
        stringify.restore();
      }
      expect(texts.at(-1)).to.equal(JSON.stringify({ status: 'progress', details: '12.50%', seq, data }));
      expect(used, 'encoded once, with its own data').to.deep.equal([data]);
      expect(frameDataEncoders.has(data), 'then let go').to.equal(false);
    });

    it('writes the bytes an encoder writes in place (writeInto), and the text when it cannot (not ASCII)', async () => {
      await start();
      const reader = await open('?clientId=alpha');
      const texts: string[] = [];
      reader.ws.on('message', (bytes: Buffer) => texts.push(bytes.toString()));
      const calls: string[] = [];
      const send = async (details: string, node: string) => {
        calls.length = 0;
        const data = { id: 'gen_bytes', state: 'running', percent: 12.5, node, result_urls: [], error_message: null };
        const text = JSON.stringify(data);
        frameDataEncoders.set(data, {
          encode: () => (calls.push('encode'), text),
          // As the machine's template does: -1 when a value it writes is not ASCII.
          writeInto: (_data, target, offset) => (calls.push('writeInto'), /^[\x00-\x7f]*$/.test(text) ? offset + Buffer.from(text).copy(target, offset) : -1),
        });
        await stub.bus!.publish<ClientFrame>(clientTopic('alpha'), { status: 'progress', details, data, generationId: 'gen_bytes', ends: false, active: 1 });
        const { seq } = await reader.next((received) => received.data?.node === node);
        expect(texts.at(-1)).to.equal(JSON.stringify({ status: 'progress', details, seq, data }));
      };
      await send('12.50%', 'n"1\\ \u0001');
      expect(calls, 'all ASCII: written as bytes').to.deep.equal(['writeInto']);
      await send('12.50%', 'n"1 é');
      expect(calls, 'the encoder cannot: its text').to.deep.equal(['writeInto', 'encode']);
      await send('é 12.50%', 'n"2');
      expect(calls, 'details not ASCII: the text').to.deep.equal(['encode']);
    });
  });

  describe('reconnecting and late sockets', () => {
    it('replays exactly the frames after since, then goes on live', async () => {
      await start();
      const first = await open('?clientId=alpha');
      const gen = stub.add({ clientId: 'alpha', state: 'running', percent: 10 });
      stub.update(gen.id, { percent: 20 });
      const seen = await first.next((frame) => frame.details === '20.00%');
      first.close();
      await first.closed;
      await eventually(() => grabbed.stats!.snapshot().connected === 0, 2000, 'server noticed the close');
      stub.update(gen.id, { percent: 30 });
      stub.update(gen.id, { percent: 40 });
      const second = await open(`?clientId=alpha&since=${seen.seq}`);
      const replayed = [await second.next(), await second.next()];
      expect(replayed.map((frame) => [frame.seq, frame.details])).to.deep.equal([
        [seen.seq! + 1, '30.00%'],
        [seen.seq! + 2, '40.00%'],
      ]);
      stub.update(gen.id, { percent: 50 });
      const live = await second.next((frame) => frame.seq !== undefined);
      expect([live.seq, live.details]).to.deep.equal([seen.seq! + 3, '50.00%']);
      expect(second.generationFrames().filter((frame) => frame.snapshot)).to.have.length(0);
    });

    it('replays every kept frame for a since beyond the last seq (a since from before a bridge restart)', async () => {
      await start();
      const gen = stub.add({ clientId: 'alpha', state: 'running', percent: 10 });
      stub.update(gen.id, { percent: 20 });
      const reader = await open('?clientId=alpha&since=999');
      const replayed = [await reader.next(), await reader.next()];
      expect(replayed.map((frame) => [frame.seq, frame.details])).to.deep.equal([
        [1, '10.00%'],
        [2, '20.00%'],
      ]);
      expect(reader.generationFrames().filter((frame) => frame.snapshot)).to.have.length(0);
    });

    it('replays nothing for a since that is up to date', async () => {
      await start({ heartbeatMs: 30 });
      const first = await open('?clientId=alpha');
      const gen = stub.add({ clientId: 'alpha', state: 'running', percent: 10 });
      const seen = await first.next((frame) => frame.seq !== undefined);
      first.close();
      const second = await open(`?clientId=alpha&since=${seen.seq}`);
      await second.next((frame) => frame.status === 'listening');
      expect(second.generationFrames()).to.deep.equal([]);
      stub.update(gen.id, { percent: 60 });
      expect((await second.next((frame) => frame.seq !== undefined)).details).to.equal('60.00%');
    });

    it('gives a socket opened mid-generation a snapshot progress frame first', async () => {
      await start({ undeliveredReplayMs: 0 });
      const gen = stub.add({ clientId: 'alpha', state: 'running', percent: 42.5 });
      stub.update(gen.id, { percent: 42.5, node: '3' });
      const reader = await open('?clientId=alpha');
      const snapshot = await reader.next((frame) => frame.seq !== undefined);
      expect(snapshot).to.include({ status: 'progress', details: '42.50%', snapshot: true });
      expect(snapshot.data!.id).to.equal(gen.id);
      stub.update(gen.id, { percent: 60 });
      const next = await reader.next((frame) => frame.seq !== undefined);
      expect(next.details).to.equal('60.00%');
      expect(next.seq).to.be.greaterThan(snapshot.seq!);
    });

    it('hands frames nobody received to the first socket (POST, then connect)', async () => {
      await start();
      const gen = stub.add({ clientId: 'alpha', state: 'running', percent: 0 });
      stub.update(gen.id, { state: 'completed' });
      const reader = await open('?clientId=alpha');
      expect((await reader.untilClosed()).code).to.equal(1000);
      expect(reader.generationFrames().map((frame) => frame.status)).to.deep.equal(['progress', 'progress', 'closed']);
    });

    it('does not resend an old, delivered generation to the next socket (socket, then POST)', async () => {
      await start({ heartbeatMs: 30 });
      const first = await open('?clientId=alpha');
      const old = stub.add({ clientId: 'alpha', state: 'running' });
      stub.update(old.id, { state: 'completed' });
      await first.untilClosed();
      const second = await open('?clientId=alpha');
      await second.next((frame) => frame.status === 'listening');
      expect(second.generationFrames()).to.deep.equal([]);
      const next = stub.add({ clientId: 'alpha', state: 'running', percent: 5 });
      const frame = await second.next((f) => f.seq !== undefined);
      expect(frame.data!.id).to.equal(next.id);
    });
  });

  describe('ending sockets', () => {
    it('times out an idle socket: error, then closed, then close', async () => {
      await start({ idleTimeoutMs: 200 });
      const reader = await open('?clientId=alpha');
      const closed = await reader.untilClosed(3000);
      expect(closed.code).to.equal(1000);
      const ending = reader.meaningful().slice(-2);
      expect(ending[0]!.status).to.equal('error');
      expect(ending[0]!.details).to.match(/^time out error: /);
      expect(ending[1]!.status).to.equal('closed');
    });

    it('generation activity keeps a socket from timing out, while an idle one times out in the same clock time', async () => {
      const clock = new ManualClock();
      await start({ idleTimeoutMs: 300 }, clock);
      const idle = await open('?clientId=beta');
      const reader = await open('?clientId=alpha');
      const gen = stub.add({ clientId: 'alpha', state: 'running', percent: 1 });
      for (let percent = 2; percent < 8; percent++) {
        await clock.advance(100);
        stub.update(gen.id, { percent });
        await reader.next((frame) => frame.data?.percent === percent);
      }
      // 600 ms of clock time, twice the idle timeout: the socket without activity timed out, this one did not.
      expect((await idle.next((frame) => frame.status === 'error')).details).to.match(/^time out error: /);
      expect(reader.ws.readyState).to.equal(reader.ws.OPEN);
      expect(reader.meaningful().some((frame) => frame.status === 'error')).to.equal(false);
    });

    it('keeps the socket of a generation that is queued or inside a silent node open past the idle timeout', async () => {
      const clock = new ManualClock();
      await start({ idleTimeoutMs: 200 }, clock);
      const reader = await open('?clientId=alpha');
      const gen = stub.add({ clientId: 'alpha', state: 'queued', percent: 0 });
      await reader.next((frame) => frame.data?.id === gen.id);
      await clock.advance(700);
      expect(reader.ws.readyState).to.equal(reader.ws.OPEN);
      expect(reader.meaningful().some((frame) => frame.status === 'error')).to.equal(false);
      stub.update(gen.id, { state: 'completed', percent: 100 });
      expect((await reader.untilClosed(3000)).code).to.equal(1000);
    });

    it('closes a socket that sends a frame over maxPayload (1009) and keeps the others', async () => {
      await start({ maxPayload: 1024 });
      const big = await open('?clientId=alpha');
      const other = await open('?clientId=alpha');
      big.ws.send('x'.repeat(10)); // small frames are ignored
      big.ws.send('x'.repeat(64 * 1024));
      expect((await big.untilClosed()).code).to.equal(1009);
      const gen = stub.add({ clientId: 'alpha', state: 'running', percent: 3 });
      expect((await other.next((frame) => frame.seq !== undefined)).data!.id).to.equal(gen.id);
    });

    it('tells every socket closed and closes with 1001 at shutdown', async () => {
      await start();
      const reader = await open('?clientId=alpha');
      const closing = bridge!.close();
      const closed = await reader.untilClosed();
      await closing;
      bridge = undefined;
      expect(closed.code).to.equal(1001);
      expect(reader.meaningful().at(-1)).to.deep.equal({ status: 'closed', details: 'server is shutting down' });
    });

    it('drops a peer that stops answering pings', async () => {
      await start({ pingIntervalMs: 40 });
      rawSockets.push(await stalledSocket(bridge!.port, '/ws?clientId=dead'));
      const healthy = await open('?clientId=alive');
      let pings = 0;
      healthy.ws.on('ping', () => pings++);
      await eventually(() => grabbed.stats!.snapshot().droppedDeadTotal === 1, 3000, 'dead peer dropped');
      // The hub pings only a peer that answered the last ping (else it drops it): three more pings are three
      // rounds the healthy peer survived.
      const seen = pings;
      await eventually(() => pings >= seen + 3, 3000, 'three more ping rounds');
      expect(grabbed.stats!.snapshot().droppedDeadTotal).to.equal(1);
      expect(healthy.ws.readyState).to.equal(healthy.ws.OPEN);
      expect(grabbed.stats!.snapshot().connected).to.equal(1);
    });

    it('cuts off a consumer that does not read, while another client keeps receiving', async function () {
      this.timeout(30_000);
      await start({ maxBufferedBytes: 64 * 1024 });
      const slow = await stalledSocket(bridge!.port, '/ws?clientId=slow');
      rawSockets.push(slow);
      const fast = await open('?clientId=fast');
      const slowGen = stub.add({ clientId: 'slow', state: 'running' });
      const fastGen = stub.add({ clientId: 'fast', state: 'running' });
      // The kernel buffers several MiB per socket before the bridge's own buffer grows: send far more.
      const bulky = 'n'.repeat(4096);
      let rounds = 0;
      while (grabbed.stats!.snapshot().droppedSlowTotal === 0 && rounds < 20_000) {
        rounds++;
        stub.update(slowGen.id, { percent: (rounds % 9000) / 100, node: `${bulky}${rounds}` });
        stub.update(fastGen.id, { percent: (rounds % 9000) / 100 });
        if (rounds % 200 === 0) await delay(1);
      }
      expect(grabbed.stats!.snapshot().droppedSlowTotal).to.equal(1);
      expect(grabbed.stats!.droppedSlowConsumers()).to.equal(1);
      stub.update(fastGen.id, { state: 'completed' });
      expect((await fast.untilClosed()).code).to.equal(1000);
      const fastFrames = fast.generationFrames();
      // The fast client got every one of its frames, in order.
      expect(fastFrames.map((frame: Frame) => frame.seq)).to.deep.equal(fastFrames.map((_frame, index) => index + 1));
      expect(fastFrames.at(-1)!.status).to.equal('closed');
      // The slow socket was closed by the server: once it reads again, it reaches the end of the stream.
      const bytes = await drainUntilClosed(slow);
      expect(bytes).to.be.greaterThan(64 * 1024);
      await eventually(() => grabbed.stats!.snapshot().connected === 0, 3000, 'slow socket forgotten');
    });
  });
});
