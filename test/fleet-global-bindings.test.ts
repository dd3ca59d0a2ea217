/**
 * clientId ↔ API key bindings in a fleet: 2 real `serve` processes with auth on one PostgreSQL (storage and
 * bus). A binding made through A holds on a B that is running (and had looked at the clientId before),
 * two keys racing through A and B get one winner, a key's cap counts its bindings on every instance, and a
 * socket another key opened on B is closed when the clientId is bound through A.
 */
import { expect } from 'chai';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { kill, startInstance, writeFleetConfig, type Instance } from './helpers/fleet.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { FrameReader, refusedUpgrade, wsUrl } from './ws-client.js';

const KEY_A = 'cliA-Zx3cV5bN7mQ9wE1rT4';
const KEY_B = 'cliB-Lk2jH4gF6dS8aP0oI3';
const KEY_C = 'cliC-Qw8eR2tY6uI0oP4aS7';
const KEY_D = 'cliD-Mn5bV7cX9zL1kJ3hG6';
const KEY_E = 'cliE-Po0iU9yT8rE7wQ6aZ2';
const KEY_F = 'cliF-Hg4fD3sA2qW1eR0tY9';
/** Each test uses keys of its own, so one test's bindings do not count against another's cap. */
const MAX_PER_KEY = 3;

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

async function generate(base: string, clientId: string, key: string): Promise<{ status: number; body: { id?: string; error?: string } }> {
  const res = await fetch(`${base}/generate-based-workflow?clientId=${clientId}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...bearer(key) },
    body: JSON.stringify({ workflow: 'text-to-image', '5/width': 64, '5/height': 64, '3/steps': 2 }),
  });
  return { status: res.status, body: (await res.json()) as { id?: string; error?: string } };
}

const history = async (base: string, clientId: string, key: string): Promise<number> =>
  (await fetch(`${base}/history?clientId=${clientId}`, { headers: bearer(key) })).status;

describe('a fleet on PostgreSQL: clientId bindings hold on every instance', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let dir: string;
  let fake: FakeComfy;
  let instances: Instance[] = [];
  const readers: FrameReader[] = [];

  before(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'fleet-global-bindings-'));
    await mkdir(join(dir, 'data'));
    fake = await startFakeComfy({ nodeDurationMs: 5 });
    const config = await writeFleetConfig(dir, {
      databaseUrl: db.url,
      backends: [fake.url],
      plugins: {
        bus: false,
        'bus-postgres': { url: db.url },
        auth: { keys: [KEY_A, KEY_B, KEY_C, KEY_D, KEY_E, KEY_F].map((key) => `${key}:client`).join(','), maxBoundClientIds: MAX_PER_KEY },
      },
    });
    instances = await Promise.all([0, 1].map(() => startInstance(config)));
  });

  after(async () => {
    for (const reader of readers) reader.close();
    await Promise.all(instances.map((instance) => kill(instance)));
    await fake?.stop();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a binding made through A is seen at once by a running B, which had found the clientId free before', async () => {
    const [a, b] = instances as [Instance, Instance];
    // B looks first: free, so key B may read it (and must not remember "free").
    expect(await history(b.url, 'tab-1', KEY_B)).to.equal(200);

    const first = await generate(a.url, 'tab-1', KEY_A);
    expect(first.status, JSON.stringify(first.body)).to.equal(200);

    expect(await history(b.url, 'tab-1', KEY_B)).to.equal(404);
    const refused = await generate(b.url, 'tab-1', KEY_B);
    expect(refused.status, JSON.stringify(refused.body)).to.equal(404);
    expect((await refusedUpgrade(wsUrl(b.url, '?clientId=tab-1'), bearer(KEY_B))).status).to.equal(404);
    // The owner uses it through B too.
    expect((await generate(b.url, 'tab-1', KEY_A)).status).to.equal(200);
    expect(await history(b.url, 'tab-1', KEY_A)).to.equal(200);
  });

  it('two keys racing for one clientId through A and B: one wins, the other gets 404', async () => {
    const [a, b] = instances as [Instance, Instance];
    for (const clientId of ['race-1', 'race-2', 'race-3']) {
      const [viaA, viaB] = await Promise.all([generate(a.url, clientId, KEY_C), generate(b.url, clientId, KEY_D)]);
      expect([viaA.status, viaB.status].sort(), clientId).to.deep.equal([200, 404]);
      const winner = viaA.status === 200 ? KEY_C : KEY_D;
      const loser = winner === KEY_C ? KEY_D : KEY_C;
      // Every instance agrees on the winner.
      for (const instance of instances) {
        expect(await history(instance.url, clientId, winner)).to.equal(200);
        expect(await history(instance.url, clientId, loser)).to.equal(404);
      }
    }
  });

  it("a key's cap counts its bindings made through every instance", async () => {
    const [a, b] = instances as [Instance, Instance];
    expect((await generate(a.url, 'cap-1', KEY_E)).status).to.equal(200);
    expect((await generate(b.url, 'cap-2', KEY_E)).status).to.equal(200);
    expect((await generate(a.url, 'cap-3', KEY_E)).status).to.equal(200);
    const fourth = await generate(b.url, 'cap-4', KEY_E);
    expect(fourth.status, JSON.stringify(fourth.body)).to.equal(429);
    expect((await generate(a.url, 'cap-4', KEY_E)).status).to.equal(429);
    // Renewing an own clientId always works, on either instance.
    expect((await generate(b.url, 'cap-1', KEY_E)).status).to.equal(200);
    // Refused requests bound nothing: another key may still take cap-4.
    expect((await generate(b.url, 'cap-4', KEY_F)).status).to.equal(200);
  });

  it('a socket one key opened on B is closed when another key binds the clientId through A', async () => {
    const [a, b] = instances as [Instance, Instance];
    const squatter = await FrameReader.open(wsUrl(b.url, '?clientId=tab-squat'), bearer(KEY_B));
    readers.push(squatter);
    await squatter.next((frame) => frame.status === 'connected');

    const bound = await generate(a.url, 'tab-squat', KEY_F);
    expect(bound.status, JSON.stringify(bound.body)).to.equal(200);
    expect(await squatter.next((frame) => frame.status === 'error', 10_000)).to.deep.equal({ status: 'error', details: 'this clientId is now bound to another API key' });
    expect((await squatter.untilClosed(10_000)).code).to.equal(1008);
    expect(squatter.frames.some((frame) => frame.data?.id === bound.body.id)).to.equal(false);
  });
});
