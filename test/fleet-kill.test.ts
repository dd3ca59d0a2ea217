import { expect } from 'chai';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { kill, killInTurn, startInstance, submitUntilAcknowledged as submit, writeFleetConfig, type Instance } from './helpers/fleet.js';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { startRoundRobinProxy, type RoundRobinProxy } from './helpers/proxy.js';
import { until } from './helpers/until.js';

const CLIENTS = 50;
const PER_CLIENT = 4;
const FINAL = new Set(['completed', 'failed', 'interrupted']);

async function state(base: string, id: string): Promise<string | undefined> {
  try {
    const res = await fetch(`${base}/execution-info?id=${encodeURIComponent(id)}`);
    return res.status === 200 ? ((await res.json()) as { data: { state: string } }).data.state : undefined;
  } catch {
    return undefined;
  }
}

/** The whole history as one instance tells it, its own address taken out of result URLs. */
async function history(instance: Instance): Promise<string> {
  const pages: unknown[] = [];
  for (let offset = 0; ; offset += 100) {
    const res = await fetch(`${instance.url}/history?limit=100&offset=${offset}`);
    expect(res.status).to.equal(200);
    const page = (await res.json()) as { history: unknown[]; total_count: number };
    pages.push(...page.history);
    if (offset + 100 >= page.total_count) break;
  }
  return JSON.stringify(pages).replaceAll(instance.url, 'BASE');
}

/** One line per generation: its stored state, prompt, backend, lease, and what each fake knows of the prompt. */
async function whatHung(db: pg.Client, fakes: FakeComfy[], ids: string[]): Promise<string> {
  const { rows } = await db.query<{ id: string; doc: Record<string, unknown>; lease_owner: string | null; lease_left_ms: number | null }>(
    `SELECT id, doc, lease_owner, (extract(epoch FROM lease_until - now()) * 1000)::int AS lease_left_ms FROM generations WHERE id = ANY($1::text[])`,
    [ids],
  );
  const lines: string[] = ids.filter((id) => !rows.some((row) => row.id === id)).map((id) => `${id} has no stored row`);
  for (const row of rows) {
    const promptId = String(row.doc.promptId);
    const known = await Promise.all(
      fakes.map(async (fake, i) => {
        const posted = fake.prompts.filter((p) => p.promptId === promptId).map((p) => (p.accepted ? 'accepted' : 'refused'));
        const history = await fetch(`${fake.url}/history/${promptId}`).then((r) => r.json() as Promise<Record<string, { status?: { status_str?: string } }>>, () => ({}) as Record<string, { status?: { status_str?: string } }>);
        const queue = await fetch(`${fake.url}/queue`).then((r) => r.text(), () => '');
        return `fake${i}[posted ${posted.join(',') || 'never'}; history ${history[promptId]?.status?.status_str ?? 'none'}; in queue ${queue.includes(promptId)}]`;
      }),
    );
    lines.push(`${row.id} state=${String(row.doc.state)} phase-promptId=${promptId} backend=${String(row.doc.backend)} attempts=${String(row.doc.attempts)} lease=${row.lease_owner}/${row.lease_left_ms}ms ${known.join(' ')}`);
  }
  return lines.join('\n');
}

describe('a fleet: 3 instances on one PostgreSQL, 2 ComfyUIs, a round-robin proxy, instances SIGKILLed', function () {
  this.timeout(300_000);
  let db: TestDatabase;
  let dir: string;
  let fakes: FakeComfy[] = [];
  let instances: Instance[] = [];
  let proxy: RoundRobinProxy | undefined;

  before(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'fleet-'));
    await mkdir(join(dir, 'data'));
    fakes = [await startFakeComfy({ nodeDurationMs: 5 }), await startFakeComfy({ nodeDurationMs: 5 })];
    // Long enough that kills land on generations in every phase (queued, running, copying). Each
    // submission has its own seed: the fake, like ComfyUI, answers an identical prompt from its cache
    // without running a node, and 200 cached prompts ended between two kills.
    for (const fake of fakes) fake.setNodeDuration('KSampler', 40);
  });

  after(async () => {
    await Promise.all(instances.map((instance) => kill(instance)));
    await proxy?.close();
    for (const fake of fakes) await fake.stop();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('loses no acknowledged generation, submits none twice, finishes every one, and every instance tells the same history', async () => {
    const config = await writeFleetConfig(dir, { databaseUrl: db.url, backends: fakes.map((fake) => fake.url) });
    instances = await Promise.all([0, 1, 2].map(() => startInstance(config)));
    proxy = await startRoundRobinProxy(instances.map((instance) => instance.url));
    // One instance SIGKILLed every few seconds (in turn) and started again, until the work is done.
    const watcher = new pg.Client({ connectionString: db.url });
    watcher.on('error', () => undefined); // the database is dropped in `after`, whatever happened
    await watcher.connect();
    /** Unfinished generations the killed instances were following when they died (a survivor must finish them). */
    const orphaned: string[] = [];
    const killer = killInTurn(instances, config, proxy, {
      everyMs: 2500,
      onKilled: async (victim) => {
        const { rows } = await watcher.query<{ id: string }>(`SELECT id FROM generations WHERE lease_owner = $1 AND state IN ('queued', 'running')`, [victim.id]);
        orphaned.push(...rows.map((row) => row.id));
      },
    });

    const acknowledged: string[] = [];
    try {
      const work = async () => {
        await Promise.all(
          Array.from({ length: CLIENTS }, async (_, c) => {
            for (let k = 0; k < PER_CLIENT; k++) acknowledged.push(await submit(proxy!.url, `fleet-client-${c}`, { '3/seed': c * PER_CLIENT + k }));
          }),
        );
        // Every acknowledged generation ends (asked through the proxy: any instance answers for any).
        const pending = new Set(acknowledged);
        try {
          await until(
            async () => {
              for (const id of [...pending]) {
                const now = await state(proxy!.url, id);
                if (now !== undefined && FINAL.has(now)) pending.delete(id);
              }
              if (pending.size > 0) return false;
              // Every generation ended without a kill finding one in flight: no later kill can, so say so now.
              if (orphaned.length === 0) throw new Error(`every acknowledged generation ended before a kill found one in flight (the work ran between kills)`);
              return killer.kills() >= 2;
            },
            'every acknowledged generation to end, through at least two kills, one of them with generations in flight',
            240_000,
          );
        } catch (error) {
          // Say what hung: each unfinished generation's row and lease, and what the ComfyUIs know of its prompt.
          const live = instances.filter((i) => i.alive()).map((i) => `instance ${i.id}`);
          const unfinished = pending.size === 0 ? 'none unfinished' : `${pending.size} of ${acknowledged.length} acknowledged unfinished:\n${await whatHung(watcher, fakes, [...pending])}`;
          throw new Error(`${(error as Error).message} (kills ${killer.kills()}, orphaned ${orphaned.length}, live ${live.join(' ')}); ${unfinished}`);
        }
      };
      // A restart that fails fails the test at once.
      await Promise.race([work(), killer.failed]);
    } finally {
      await killer.stop().finally(() => watcher.end());
    }
    proxy.setTargets(instances.map((instance) => instance.url));

    expect(acknowledged).to.have.length(CLIENTS * PER_CLIENT);
    expect(new Set(acknowledged).size).to.equal(CLIENTS * PER_CLIENT);
    expect(killer.kills()).to.be.at.least(2);
    // A dead instance's generations were taken over: each claimed by a survivor and finished.
    expect(orphaned.length).to.be.greaterThan(0);

    // 0 lost: every acknowledged generation is stored and completed.
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const { rows } = await client
      .query<{ id: string; state: string; prompt: string }>(`SELECT id, doc->>'state' AS state, doc->>'promptId' AS prompt FROM generations`)
      .finally(() => client.end());
    const stored = new Map(rows.map((row) => [row.id, row]));
    for (const id of acknowledged) {
      expect(stored.get(id)?.state, `generation ${id}`).to.equal('completed');
    }

    // 0 submitted twice: no prompt reached ComfyUI twice, and every stored generation's prompt reached it once.
    const posted = fakes.flatMap((fake) => fake.prompts.filter((p) => p.accepted).map((p) => p.promptId));
    expect(posted.length - new Set(posted).size, 'prompts submitted twice').to.equal(0);
    for (const row of stored.values()) {
      if (row.state === 'completed') expect(posted.filter((p) => p === row.prompt), `prompt of ${row.id}`).to.have.length(1);
    }

    // The same history from every instance.
    await until(async () => (await Promise.all(instances.map((i) => fetch(`${i.url}/ready`).then((r) => r.status, () => 0)))).every((s) => s === 200), 'every instance to be ready', 20_000);
    const told = await Promise.all(instances.map(history));
    expect(told[1]).to.equal(told[0]);
    expect(told[2]).to.equal(told[0]);
    expect((JSON.parse(told[0]!) as unknown[]).length).to.equal(stored.size);
  });
});
