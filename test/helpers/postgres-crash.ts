/**
 * A PostgreSQL server of one test's own that can be crashed for real: durability on (fsync, full page
 * writes, synchronous commit), its own data folder and port, and the postmaster with every child it
 * forked killed with SIGKILL at once (they run in a process group of their own), so what was in shared
 * memory (WAL not yet written out) is gone, as in a crash of the machine's PostgreSQL. Restarted on the
 * same folder and port, it runs crash recovery from its WAL. The suite's shared server (postgres.ts) is
 * not touched.
 */
import { rm } from 'node:fs/promises';
import { createCluster, freePort, launch, urlOf, type Cluster, type Launched } from './postgres.js';
import { until } from './until.js';

const durable: Record<string, string> = {
  listen_addresses: '127.0.0.1',
  fsync: 'on',
  full_page_writes: 'on',
  synchronous_commit: 'on',
};

export interface CrashablePostgres {
  /** Connection string of the maintenance database (the port stays the same across restarts). */
  url: string;
  /** SIGKILL to the postmaster and all its children at once; resolves once none is left. */
  crash(): Promise<void>;
  /** Starts the server again on the same folder and port (crash recovery); resolves once it accepts connections. */
  restart(): Promise<void>;
  /** Stops it (if running) and removes its data folder. */
  remove(): Promise<void>;
}

/** Whether any process of the group `pgid` is left. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function startCrashablePostgres(overrides: Record<string, string> = {}): Promise<CrashablePostgres> {
  const cluster: Cluster = await createCluster();
  const settings = { ...durable, ...overrides };
  const port = await freePort();
  let server: Launched | null = null;
  try {
    server = await launch(cluster, port, settings, true);
  } catch (error) {
    await rm(cluster.dir, { recursive: true, force: true });
    throw error;
  }
  const kill = async () => {
    const running = server;
    server = null;
    if (!running?.child.pid) return;
    const pgid = running.child.pid;
    if (groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
    await running.exited;
    // The children are not ours to wait for: poll until the group is empty.
    await until(() => !groupAlive(pgid), `the processes of the PostgreSQL group ${pgid} to end`, 10_000);
    running.forget();
  };
  return {
    url: urlOf(port, cluster.password, 'postgres'),
    crash: kill,
    async restart() {
      if (server) throw new Error('the server is running');
      server = await launch(cluster, port, settings, true);
    },
    async remove() {
      await kill();
      await rm(cluster.dir, { recursive: true, force: true });
    },
  };
}
