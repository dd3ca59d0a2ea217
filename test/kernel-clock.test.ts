import { expect } from 'chai';
import { createApp } from '../core/app.js';
import { finishConfig } from '../core/config/schema.js';
import { definePlugin, type PluginContext, type PluginManifest } from '../core/plugin.js';
import { systemClock } from '../core/timers.js';
import { every } from '../lib/every.js';
import { ManualClock } from './helpers/manual-clock.js';

const config = (plugins: Record<string, Record<string, unknown>>) =>
  finishConfig({ server: { host: '127.0.0.1', port: 0 }, dataDir: '/tmp/unused-clock', log: { level: 'silent' }, plugins }, { cwd: process.cwd(), configDir: process.cwd() });

describe('kernel: the clock plugins get', () => {
  it('every() runs its task once per period on the clock it is given, never two runs at once, and stop() waits for the run in progress', async () => {
    const clock = new ManualClock();
    let runs = 0;
    let release: (() => void) | undefined;
    const timer = every(1000, async () => {
      runs++;
      await new Promise<void>((resolve) => (release = resolve));
    }, clock);
    await clock.advance(999);
    expect(runs).to.equal(0);
    await clock.advance(1);
    expect(runs).to.equal(1);
    // Still running: the next two periods do not start another run.
    await clock.advance(2000);
    expect(runs).to.equal(1);
    release!();
    await clock.advance(1000);
    expect(runs).to.equal(2);
    let stopped = false;
    const stopping = timer.stop().then(() => (stopped = true));
    await clock.advance(0);
    expect(stopped, 'stop() waits for the run in progress').to.equal(false);
    release!();
    await stopping;
    await clock.advance(5000);
    expect(runs).to.equal(2);
    expect(clock.pending).to.equal(0);
  });

  it('gives every plugin the clock createApp was given, and the system clock otherwise', async () => {
    const seen: PluginContext['clock'][] = [];
    const probe = definePlugin({ name: 'probe', register: (ctx) => void seen.push(ctx.clock) }) as PluginManifest<never>;
    const clock = new ManualClock(1_000);
    const app = await createApp(config({}), { plugins: [probe], clock });
    await app.close();
    const plain = await createApp(config({}), { plugins: [probe] });
    await plain.close();
    expect(seen[0]).to.equal(clock);
    expect(seen[0]!.now()).to.equal(1_000);
    expect(seen[1]).to.equal(systemClock);
  });

  it('drives the bus plugin: a message older than the replay window is not replayed once the clock moved past it', async () => {
    const clock = new ManualClock();
    let bus: { publish(topic: string, payload: unknown): Promise<unknown>; replay(topic: string, since: number): Promise<unknown[]> } | undefined;
    const grab = definePlugin({ name: 'grab', dependencies: ['bus'], register: (ctx) => void (bus = ctx.use('bus')) }) as PluginManifest<never>;
    const app = await createApp(config({ bus: { replayWindow: 10, replayWindowMs: 60_000 } }), { clock, plugins: [grab] });
    try {
      await bus!.publish('client:a', { n: 1 });
      await clock.advance(59_000);
      expect(await bus!.replay('client:a', 0)).to.have.length(1);
      await clock.advance(2_000);
      expect(await bus!.replay('client:a', 0)).to.have.length(0);
    } finally {
      await app.close();
    }
  });
});
