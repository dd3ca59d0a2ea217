import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { BridgeConfig } from './config/schema.js';
import { BootError } from './errors.js';
import { createHooks, type Hooks } from './hooks.js';
import { createLogger } from './log.js';
import { ServiceRegistry } from './services.js';
import { RouteTable } from './http/routes.js';
import { kernel } from './http/kernel.js';
import { upgradeListener } from './http/upgrade.js';
import { resolvePlugins } from './loader/resolve.js';
import { orderPlugins } from './loader/order.js';
import { validateOptions } from './loader/options.js';
import type { PluginManifest, RecordedRoute } from './plugin.js';
import { systemClock, type Clock } from './timers.js';

export interface CreateAppOptions {
  /** Plugins given as objects (tests, embedders); enabled unless config.plugins names them false. */
  plugins?: readonly PluginManifest<never>[];
  /** Use this logger instead of a new one (tests capture logs this way). */
  log?: Logger;
  /** The plugins' clock (tests move a manual one instead of sleeping). */
  clock?: Clock;
}

export interface BridgeApp {
  readonly config: BridgeConfig;
  readonly hooks: Hooks;
  readonly log: Logger;
  /** Names of the loaded plugins, in registration order. */
  readonly plugins: readonly string[];
  routes(): readonly RecordedRoute[];
  /** Runs `ready`, listens, runs `listening`; resolves with the bound address. */
  start(): Promise<{ url: string; port: number; server: Server }>;
  /** Stop intake, preClose, close the server with a deadline, then plugins' onClose in reverse. Idempotent. */
  close(): Promise<void>;
}

type Closer = { plugin: string; fn: () => Promise<void> | void };
/** Client disconnects are routine: Koa would otherwise log their stack traces as errors. */
const GONE = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** Builds the app: loads, orders, validates and registers the plugins the config enables. */
export async function createApp(config: BridgeConfig, options: CreateAppOptions = {}): Promise<BridgeApp> {
  const log = options.log ?? createLogger(config.log.level);
  const hooks = createHooks();
  const services = new ServiceRegistry();
  const routes = new RouteTable(hooks);
  const closers: Closer[] = [];
  const koa = new Koa();
  koa.silent = true;
  koa.on('error', (error: NodeJS.ErrnoException) => (GONE.has(error.code ?? '') ? log.debug({ err: error }, 'client went away') : log.error({ err: error }, 'unhandled koa error')));
  koa.use(kernel(log, hooks, config.server.bodyLimitBytes, routes));

  const timings: { plugin: string; ms: number }[] = [];
  const bootStarted = performance.now();
  try {
    for (const plugin of orderPlugins(await resolvePlugins(config, options.plugins))) {
      const { name } = plugin.manifest;
      const pluginLog = log.child({ plugin: name });
      const started = performance.now();
      const registered = plugin.manifest.register({
        name,
        options: validateOptions(plugin),
        config,
        log: pluginLog,
        hooks,
        clock: options.clock ?? systemClock,
        route: (definition) => routes.add(name, definition),
        routes: () => routes.recorded(),
        provide: (service, value) => services.provide(name, service, value),
        use: (service) => services.use(service, name),
        tryUse: (service) => services.tryUse(service),
        onClose: (fn) => void closers.push({ plugin: name, fn }),
      });
      await withDeadline(Promise.resolve(registered), config.server.registerTimeoutMs, `plugin "${name}" register()`);
      timings.push({ plugin: name, ms: Math.round(performance.now() - started) });
      pluginLog.debug('registered');
    }
  } catch (error) {
    await runClosers(closers, log);
    throw error;
  }
  // The boot tree (avvio's prettyPrint): each plugin with its register() time.
  const tree = timings.map(({ plugin, ms }, i) => `${i === timings.length - 1 ? '└──' : '├──'} ${plugin} ${ms} ms`);
  log.info({ plugins: timings }, [`plugins registered in ${Math.round(performance.now() - bootStarted)} ms`, ...tree].join('\n'));
  const loaded = timings.map((t) => t.plugin);

  let server: Server | undefined;
  const sockets = new Set<Socket>();
  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    log.info('shutting down');
    routes.closing = true;
    // Stop intake first; `closed` resolves once the last connection has ended.
    const closed = server?.listening ? new Promise<void>((resolve) => server!.close(() => resolve())) : undefined;
    await hooks.preClose.promise().catch((error: unknown) => log.error({ err: error }, 'preClose failed'));
    if (closed) {
      // Wait for requests in flight up to the deadline, then cut what is left (keep-alive, stuck clients).
      server!.closeIdleConnections();
      const timer = setTimeout(() => sockets.forEach((socket) => socket.destroy()), config.server.shutdownTimeoutMs);
      await closed;
      clearTimeout(timer);
    }
    await runClosers(closers, log);
    for (const websockets of routes.websockets) websockets.close();
    log.info('closed');
  };

  return {
    config,
    hooks,
    log,
    plugins: loaded,
    routes: () => routes.recorded(),
    async start() {
      await hooks.ready.promise();
      const handle = koa.callback();
      server = createServer(handle);
      hooks.server.call(server);
      if (routes.websockets.length > 0) server.on('upgrade', upgradeListener(handle, log));
      server.on('connection', (socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
      });
      await new Promise<void>((resolve, reject) => server!.once('error', reject).listen(config.server.port, config.server.host, () => resolve()));
      const { port } = server.address() as AddressInfo;
      const { host } = config.server;
      const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
      await hooks.listening.promise(server);
      log.info({ url, port, plugins: loaded }, 'listening');
      return { url, port, server };
    },
    close: () => (closing ??= close()),
  };
}

/** Resolves with `work`, or rejects naming `what` when it takes longer than `ms`. */
async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new BootError(`${what} did not finish within ${ms} ms`)), ms)));
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** "First created, last closed": storage, registered first, closes last. */
async function runClosers(closers: Closer[], log: Logger): Promise<void> {
  for (const { plugin, fn } of closers.splice(0).reverse()) {
    try {
      await fn();
    } catch (error) {
      log.error({ err: error, plugin }, 'onClose failed');
    }
  }
}
