import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { ComfyTransport } from '../plugins/comfyui/comfy-transport.js';
import { resolveOptions } from '../plugins/comfyui/options.js';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { until } from './helpers/until.js';

/** The transport's backend-up signal the warmup plugin starts from: after the capabilities, once per connection, replayed to a late subscriber. */
describe('transport: onBackendUp', function () {
  this.timeout(20_000);
  let fake: FakeComfy;
  let transport: ComfyTransport;

  beforeEach(async () => {
    fake = await startFakeComfy();
    transport = new ComfyTransport(
      resolveOptions({ backends: [{ url: fake.url, name: 'solo' }], reconnect: { initialMs: 20, maxMs: 100, jitter: 0 }, capabilitiesMinGapMs: 0 }),
      `warmup-signal-${randomUUID()}`,
      pino({ level: 'silent' }),
    );
  });
  afterEach(async () => {
    await transport.close();
    await fake.stop();
  });

  it('tells an early subscriber once the capabilities are read, a late one at once, and both again after a restart', async () => {
    const early: { name: string; known: boolean }[] = [];
    const known = () => transport.fit({ graph: { '1': { class_type: 'EmptyImage', inputs: {} } } }).every((f) => f.known);
    transport.onBackendUp((name) => early.push({ name, known: known() }));
    transport.start();
    await until(() => early.length === 1, 'the first connection');
    expect(early).to.deep.equal([{ name: 'solo', known: true }]);

    const late: string[] = [];
    const stop = transport.onBackendUp((name) => late.push(name));
    await until(() => late.length === 1, 'the replay to the late subscriber');
    expect(late).to.deep.equal(['solo']);
    expect(early).to.have.length(1);

    await fake.restart();
    await until(() => early.length === 2 && late.length === 2, 'both told of the new connection');
    stop();
    await fake.restart();
    await until(() => early.length === 3, 'the third connection');
    expect(late).to.deep.equal(['solo', 'solo']);
  });
});
