import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { BridgeConfig } from './config/schema.js';
import { createHooks, type Hooks } from './hooks.js';
import { createLogger } from './log.js';
import { ServiceRegistry } from './services.js';
import { RouteTable } from './http/routes.js';
import { kernel } from './http/kernel.js';
import { resolvePlugins } from './loader/resolve.js';
import { orderPlugins } from './loader/order.js';
import { validateOptions } from './loader/options.js';
import { withTimeout } from './loader/timeout.js';
import type { PluginContext, PluginManifest, RecordedRoute } from './plugin.js';

export interface CreateAppOptions {
  /** Plugins given as objects (tests, embedders); enabled unless config.plugins names them false. */
  plugins?: readonly PluginManifest<never>[];
  /** Use this logger instead of a new one (tests capture logs this way). */
  log?: Logger;
}

export interface BridgeApp {
  readonly config: BridgeConfig;
  readonly hooks: Hooks;
  readonly log: Logger;
  readonly koa: Koa;
  /** Names of the loaded plugins, in registration order. */
  readonly plugins: readonly string[];
  routes(): readonly RecordedRoute[];
  /** The request handler, for tests that send requests without a port. */
  callback(): ReturnType<Koa['callback']>;
  /** Runs `ready`, listens, runs `listening`; resolves with the bound address. */
  start(): Promise<{ url: string; port: number; server: Server }>;
  /** Stop intake, preClose, close the server with a deadline, then plugins' onClose in reverse. Idempotent. */
  close(): Promise<void>;
}

/** Builds the app: loads, orders, validates and registers the plugins the config enables. */
export async function createApp(config: BridgeConfig, options: CreateAppOptions = {}): Promise<BridgeApp> {
  const log = options.log ?? createLogger(config.log);
  const hooks = createHooks();
  const services = new ServiceRegistry();
  const routes = new RouteTable(hooks);
  const closers: { plugin: string; fn: () => Promise<void> | void }[] = [];

  const koa = new Koa();
  koa.silent = true;
  koa.on('error', (error: NodeJS.ErrnoException) => {
    // Client disconnects are routine; Koa would otherwise print their stack traces to stderr.
    if (error.code === 'ECONNRESET' || error.code === 'EPIPE' || error.code === 'ECONNABORTED') log.debug({ err: error }, 'client went away');
    else log.error({ err: error }, 'unhandled koa error');
  });
  koa.use(kernel(log, hooks, config.server.bodyLimitBytes));

  const loaded: string[] = [];
  const timings: { plugin: string; ms: number }[] = [];
  const bootStarted = performance.now();
  try {
    const ordered = orderPlugins(await resolvePlugins(config, options.plugins));
    for (const plugin of ordered) {
      const name = plugin.manifest.name;
      const pluginLog = log.child({ plugin: name });
      const ctx: PluginContext = {
        name,
        options: validateOptions(plugin),
        config,
        log: pluginLog,
        hooks,
        route: (definition) => routes.add(name, definition),
        routes: () => routes.recorded(),
        provide: (service, value) => services.provide(name, service, value),
        use: (service) => services.use(service, name),
        tryUse: (service) => services.tryUse(service),
        onClose: (fn) => void closers.push({ plugin: name, fn }),
      };
      const started = performance.now();
      await withTimeout(Promise.resolve(plugin.manifest.register(ctx)), config.server.registerTimeoutMs, `plugin "${name}" register()`);
      timings.push({ plugin: name, ms: Math.round(performance.now() - started) });
      loaded.push(name);
      pluginLog.debug('registered');
    }
  } catch (error) {
    await runClosers(closers, log);
    throw error;
  }
  log.info({ plugins: timings }, pluginTree(timings, performance.now() - bootStarted));
  // Exact paths from a map, the rest through the router; 405 (with Allow) or 501 come with no body and
  // the kernel turns them into {"error","detail"}.
  koa.use(routes.dispatch());

  let server: Server | undefined;
  const sockets = new Set<Socket>();
  let closing: Promise<void> | undefined;
  let shuttingDown = false;

  const close = async (): Promise<void> => {
    log.info('shutting down');
    shuttingDown = true;
    // Stop intake first; `closed` resolves once the last connection has ended.
    const closed = server?.listening ? new Promise<void>((resolve) => server!.close(() => resolve())) : undefined;
    await hooks.preClose.promise().catch((error: unknown) => log.error({ err: error }, 'preClose failed'));
    if (server && closed) await drain(server, sockets, closed, config.server.shutdownTimeoutMs);
    await runClosers(closers, log);
    routes.websockets.close();
    log.info('closed');
  };

  return {
    config,
    hooks,
    log,
    koa,
    plugins: loaded,
    routes: () => routes.recorded(),
    callback: () => koa.callback(),
    async start() {
      await hooks.ready.promise();
      server = createServer(koa.callback());
      hooks.server.call(server);
      if (routes.websockets.size > 0) server.on('upgrade', routes.websockets.listener(log, () => shuttingDown));
      server.on('connection', (socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
      });
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(config.server.port, config.server.host, () => resolve());
      });
      const { port } = server.address() as AddressInfo;
      const url = `http://${config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host}:${port}`;
      await hooks.listening.promise(server);
      log.info({ url, port, plugins: loaded }, 'listening');
      return { url, port, server };
    },
    close: () => (closing ??= close()),
  };
}

/** The registered plugins with their register() time, as a tree (avvio's prettyPrint), for the boot log. */
function pluginTree(timings: readonly { plugin: string; ms: number }[], totalMs: number): string {
  const lines = timings.map(({ plugin, ms }, i) => `${i === timings.length - 1 ? '└──' : '├──'} ${plugin} ${ms} ms`);
  return [`plugins registered in ${Math.round(totalMs)} ms`, ...lines].join('\n');
}

/** Waits for in-flight requests up to the deadline, then cuts what is left (keep-alive, stuck clients). */
async function drain(server: Server, sockets: Set<Socket>, closed: Promise<void>, deadlineMs: number): Promise<void> {
  server.closeIdleConnections();
  const timer = setTimeout(() => {
    for (const socket of sockets) socket.destroy();
  }, deadlineMs);
  await closed;
  clearTimeout(timer);
}

/** "First created, last closed": storage, registered first, closes last. */
async function runClosers(closers: { plugin: string; fn: () => Promise<void> | void }[], log: Logger): Promise<void> {
  for (const { plugin, fn } of closers.splice(0).reverse()) {
    try {
      await fn();
    } catch (error) {
      log.error({ err: error, plugin }, 'onClose failed');
    }
  }
}
