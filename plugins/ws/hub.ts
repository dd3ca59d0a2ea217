import { WebSocket } from 'ws';
import type { Logger } from 'pino';
import { canSee, isAdmin, type Principal } from '../../contracts/auth.js';
import { FINAL_STATES, type Generation } from '../../contracts/generation.js';
import type { GenerationFrame, GenerationService } from '../../plugins/generations/api.js';
import { ClientLog, type LoggedFrame } from './client-log.js';
import { BOUND_ELSEWHERE, closedAfterError, CONNECTED, encode, fullProgress, idleFrames, LISTENING, SHUTDOWN_CLOSED, SLOW_CLOSED, SLOW_ERROR } from './frames.js';
import type { WsOptions } from './options.js';
import type { MutableWsStats } from './stats.js';

/** One open socket. */
interface Peer {
  readonly ws: WebSocket;
  readonly clientId: string;
  /** Who opened it (auth on); an admin or no principal watches any clientId. */
  readonly viewer?: Principal;
  /** Last generation frame (or the connect) — the idle timeout counts from here. */
  lastActivity: number;
  /** Answered the last ping (or said anything). */
  alive: boolean;
  /** Closing: nothing more is sent to it. */
  done: boolean;
  closeTimer?: NodeJS.Timeout;
}

interface ClientState {
  readonly log: ClientLog;
  /** Sockets receiving this client's live frames. */
  readonly peers: Set<Peer>;
}

export interface HubDeps {
  generations: Pick<GenerationService, 'frame' | 'latestForClient' | 'activeCount'>;
  options: WsOptions;
  log: Logger;
  stats: MutableWsStats;
}

/**
 * Fans generation frames out to the sockets of their clientId. Each frame is numbered and encoded
 * once and the same Buffer goes to every socket; three shared timers (heartbeat, idle/prune, ping)
 * serve all sockets, so the cost per socket is one entry in a Set.
 */
export class SocketHub {
  readonly #clients = new Map<string, ClientState>();
  readonly #peers = new Set<Peer>();
  readonly #timers: NodeJS.Timeout[] = [];
  #closing = false;

  constructor(private readonly deps: HubDeps) {}

  start(): void {
    const { heartbeatMs, idleTimeoutMs, pingIntervalMs } = this.deps.options;
    const every = (ms: number, fn: () => void) => this.#timers.push(setInterval(fn, ms).unref());
    every(heartbeatMs, () => this.#heartbeat());
    every(Math.min(1000, Math.max(10, Math.floor(idleTimeoutMs / 10))), () => this.#sweep());
    every(pingIntervalMs, () => this.#ping());
  }

  stop(): void {
    for (const timer of this.#timers.splice(0)) clearInterval(timer);
  }

  /** Live sockets of a clientId (for the per-client cap). */
  openSockets(clientId: string): number {
    return this.#clients.get(clientId)?.peers.size ?? 0;
  }

  /** A generation changed: number its frame and send it to every socket of its client. */
  publish(gen: Generation): void {
    if (this.#closing) return;
    const now = Date.now();
    const state = this.#client(gen.clientId);
    const track = state.log.track(gen.id);
    if (track.ended) return;
    const frame = this.deps.generations.frame(gen);
    if (!FINAL_STATES.has(gen.state)) {
      // Storage writes that change nothing a client sees (position, outputs so far) are not frames.
      const key = `${frame.status}|${frame.details}|${gen.state}`;
      if (key === track.key) return;
      track.key = key;
      this.#emit(state, gen.id, frame, false, now);
      return;
    }
    track.ended = true;
    if (gen.state === 'completed' && !track.key.startsWith('progress|100.00%|')) this.#emit(state, gen.id, fullProgress(frame), false, now);
    if (frame.status === 'error') {
      this.#emit(state, gen.id, frame, false, now);
      this.#emit(state, gen.id, closedAfterError(frame), true, now);
    } else {
      this.#emit(state, gen.id, frame, true, now);
    }
    if (this.deps.options.closeOnDone && this.deps.generations.activeCount(gen.clientId) === 0) {
      for (const peer of [...state.peers]) this.#end(peer, [], 1000, 'generation ended');
    }
  }

  /**
   * A socket finished its handshake: `connected`, then what it missed (frames after `since`, or
   * frames nobody received yet), then live frames, and a snapshot of a running generation it has
   * not seen at all.
   */
  async attach(ws: WebSocket, clientId: string, since: number | undefined, viewer?: Principal): Promise<void> {
    const now = Date.now();
    const peer: Peer = { ws, clientId, viewer, lastActivity: now, alive: true, done: false };
    this.#peers.add(peer);
    this.deps.stats.connected++;
    ws.on('pong', () => void (peer.alive = true));
    // Client frames carry nothing the bridge needs; any frame still proves the peer is alive.
    ws.on('message', () => void (peer.alive = true));
    ws.on('error', (error) => this.deps.log.debug({ err: error, clientId }, 'websocket error'));
    ws.on('close', () => this.#forget(peer));
    this.#sendRaw(peer, CONNECTED);
    if (this.#closing) return this.#end(peer, [SHUTDOWN_CLOSED], 1001, 'server shutting down');

    const state = this.#client(clientId);
    const { log } = state;
    const fromSeq = since ?? (log.undeliveredFrom === null ? undefined : log.undeliveredFrom - 1);
    let replay: LoggedFrame[] = fromSeq === undefined ? [] : log.after(fromSeq, now);
    if (since === undefined) replay = replay.filter((frame) => now - frame.at < this.deps.options.undeliveredReplayMs);
    log.undeliveredFrom = null;
    for (const frame of replay) this.#send(peer, frame.bytes);
    if (peer.done) return;
    this.#join(state, peer);
    const last = replay.at(-1);
    if (last?.ends && this.deps.options.closeOnDone && this.deps.generations.activeCount(clientId) === 0) {
      return this.#end(peer, [], 1000, 'generation ended');
    }
    await this.#snapshot(peer, state, since, replay);
  }

  /**
   * clientId was just bound to `owner`: every socket on it opened by another (non-admin) key gets
   * `error` and `closed` and is cut, before the owner's first frame exists.
   */
  evictWatchers(clientId: string, owner: string): void {
    const state = this.#clients.get(clientId);
    if (!state) return;
    for (const peer of [...state.peers]) {
      if (peer.viewer && !isAdmin(peer.viewer) && peer.viewer.id !== owner) this.#end(peer, BOUND_ELSEWHERE, 1008, 'clientId bound to another key');
    }
  }

  /** A socket whose clientId is bound to another key by the time it opened: `error`, `closed`, cut. */
  refuseBound(ws: WebSocket): void {
    for (const bytes of BOUND_ELSEWHERE) ws.send(bytes, { binary: false });
    ws.close(1008, 'clientId bound to another key');
    setTimeout(() => ws.terminate(), this.deps.options.closeGraceMs).unref();
  }

  /** preClose: every socket gets `closed` and code 1001; stragglers are destroyed after the grace time. */
  async shutdown(): Promise<void> {
    this.#closing = true;
    this.stop();
    const peers = [...this.#peers];
    for (const peer of peers) this.#end(peer, [SHUTDOWN_CLOSED], 1001, 'server shutting down');
    const deadline = Date.now() + this.deps.options.closeGraceMs + 100;
    while (this.#peers.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    for (const peer of this.#peers) peer.ws.terminate();
  }

  async #snapshot(peer: Peer, state: ClientState, since: number | undefined, replay: LoggedFrame[]): Promise<void> {
    const seqAtJoin = state.log.lastSeq;
    let latest: Generation | undefined;
    try {
      latest = await this.deps.generations.latestForClient(peer.clientId);
    } catch (error) {
      this.deps.log.warn({ err: error, clientId: peer.clientId }, 'could not read the latest generation for a snapshot');
      return;
    }
    if (!latest || FINAL_STATES.has(latest.state) || peer.done) return;
    if (peer.viewer && !canSee(peer.viewer, latest.owner)) return;
    const { lastSeq } = state.log.track(latest.id);
    const sawLive = lastSeq > seqAtJoin;
    const sawReplayed = replay.some((frame) => frame.seq === lastSeq);
    const sawBefore = since !== undefined && lastSeq > 0 && lastSeq <= since && since <= seqAtJoin;
    if (sawLive || sawReplayed || sawBefore) return;
    const frame: GenerationFrame = this.deps.generations.frame(latest);
    this.#send(peer, encode({ status: frame.status, details: frame.details, seq: seqAtJoin, snapshot: true, data: frame.data }));
    peer.lastActivity = Date.now();
  }

  #emit(state: ClientState, generationId: string, frame: GenerationFrame, ends: boolean, now: number): void {
    const logged = state.log.append(
      generationId,
      ends,
      state.peers.size > 0,
      (seq) => encode({ status: frame.status, details: frame.details, seq, data: frame.data }),
      now,
    );
    for (const peer of state.peers) {
      if (this.#send(peer, logged.bytes)) peer.lastActivity = now;
    }
  }

  /** Sends and enforces the send-buffer bound: a socket that cannot keep up is cut off, never waited for. */
  #send(peer: Peer, bytes: Buffer): boolean {
    if (!this.#sendRaw(peer, bytes)) return false;
    if (peer.ws.bufferedAmount > this.deps.options.maxBufferedBytes) {
      this.deps.stats.droppedSlowTotal++;
      this.deps.log.info({ clientId: peer.clientId, buffered: peer.ws.bufferedAmount }, 'websocket cut off: client reads too slowly');
      this.#end(peer, [SLOW_ERROR, SLOW_CLOSED], 1008, 'send buffer overflow');
      return false;
    }
    return true;
  }

  #sendRaw(peer: Peer, bytes: Buffer): boolean {
    if (peer.done || peer.ws.readyState !== WebSocket.OPEN) return false;
    peer.ws.send(bytes, { binary: false });
    this.deps.stats.framesSentTotal++;
    return true;
  }

  /** Last frames, then a close handshake bounded by closeGraceMs. */
  #end(peer: Peer, frames: Buffer[], code: number, reason: string): void {
    if (peer.done) return;
    for (const bytes of frames) this.#sendRaw(peer, bytes);
    peer.done = true;
    this.#leave(peer);
    if (peer.ws.readyState === WebSocket.OPEN) peer.ws.close(code, reason);
    else peer.ws.terminate();
    peer.closeTimer = setTimeout(() => peer.ws.terminate(), this.deps.options.closeGraceMs).unref();
  }

  #forget(peer: Peer): void {
    clearTimeout(peer.closeTimer);
    peer.done = true;
    this.#leave(peer);
    if (this.#peers.delete(peer)) this.deps.stats.connected--;
  }

  #join(state: ClientState, peer: Peer): void {
    if (state.peers.size === 0) this.deps.stats.clientIds++;
    state.peers.add(peer);
  }

  #leave(peer: Peer): void {
    const state = this.#clients.get(peer.clientId);
    if (state?.peers.delete(peer) && state.peers.size === 0) this.deps.stats.clientIds--;
  }

  #client(clientId: string): ClientState {
    let state = this.#clients.get(clientId);
    if (!state) {
      const { replayWindow, replayWindowMs } = this.deps.options;
      state = { log: new ClientLog({ maxFrames: replayWindow, maxAgeMs: replayWindowMs }), peers: new Set() };
      this.#clients.set(clientId, state);
    }
    return state;
  }

  #heartbeat(): void {
    for (const peer of this.#peers) this.#send(peer, LISTENING);
  }

  /** Idle time outs, and forgetting clients with no socket and nothing left to replay. */
  #sweep(): void {
    const now = Date.now();
    const { idleTimeoutMs, replayWindowMs, undeliveredReplayMs } = this.deps.options;
    for (const peer of this.#peers) {
      if (peer.done || now - peer.lastActivity <= idleTimeoutMs) continue;
      // A generation waiting in ComfyUI's queue, or inside a long node that reports no steps, sends no
      // frames for a while; its socket is waiting, not idle.
      if (this.deps.generations.activeCount(peer.clientId) > 0) {
        peer.lastActivity = now;
        continue;
      }
      this.#end(peer, idleFrames(idleTimeoutMs), 1000, 'idle timeout');
    }
    const keepMs = Math.max(replayWindowMs, undeliveredReplayMs);
    for (const [clientId, state] of this.#clients) {
      if (state.peers.size === 0 && state.log.isStale(now, keepMs)) this.#clients.delete(clientId);
    }
  }

  #ping(): void {
    for (const peer of this.#peers) {
      if (peer.done) continue;
      if (!peer.alive) {
        this.deps.stats.droppedDeadTotal++;
        this.deps.log.info({ clientId: peer.clientId }, 'websocket dropped: no pong');
        peer.ws.terminate();
        continue;
      }
      peer.alive = false;
      peer.ws.ping();
    }
  }
}
