import { WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { Bus, BusMessage } from '../../contracts/bus.js';
import { isAdmin, type Principal } from '../../contracts/auth.js';
import { clientTopic, frameDataEncoders, writeAscii, writeJsonString, writeNumber, type ClientFrame, type FrameDataEncoder } from '../../contracts/client-frame.js';
import { BOUND_ELSEWHERE, CONNECTED, encode, idleFrames, LISTENING, SHUTDOWN_CLOSED, SLOW_CLOSED, SLOW_ERROR } from './frames.js';
import type { WsOptions } from './options.js';
import type { MutableWsStats } from './stats.js';
import type { Clock, Timer } from '../../core/timers.js';
import { frameSink, payloadOf, payloadScratch, scratchFrame, textFrame, type FrameSink, type TextFrame } from './text-frame.js';

/** One open socket. */
interface Peer {
  readonly ws: WebSocket;
  /** Where its frames are written as they are (text-frame.ts); undefined: through ws.send. */
  readonly sink: FrameSink | undefined;
  readonly clientId: string;
  /** Who opened it (auth on); an admin or no principal watches any clientId. */
  readonly viewer?: Principal;
  /** Last generation frame (or the connect) — the idle timeout counts from here. */
  lastActivity: number;
  /** Answered the last ping (or said anything). */
  alive: boolean;
  /** Closing: nothing more is sent to it. */
  done: boolean;
  /** The highest seq sent to it: a message seen again (at-least-once delivery, replay overlap) is dropped. */
  lastSeq: number;
  /** While its replay is read, live messages wait here. */
  pending: BusMessage<ClientFrame>[] | null;
  closeTimer?: NodeJS.Timeout;
}

interface ClientState {
  /** Sockets receiving this client's live frames. */
  readonly peers: Set<Peer>;
  /** The one socket in `peers` when there is exactly one (the common case): a frame is delivered without walking the Set. */
  only: Peer | undefined;
  /** The bus subscription, held while a socket of the client is open. */
  unsubscribe: (() => void) | null;
  /** The last message delivered to any socket of the client: a new socket gets what came after it. */
  delivered: { seq: number; at: number } | null;
  /** The client's queued or running generations, as its last frame said. */
  active: number;
}

export interface HubDeps {
  bus: Bus;
  options: WsOptions;
  log: Logger;
  stats: MutableWsStats;
  /** Idle timeouts, heartbeats and pings run on it (tests move a manual one). */
  clock: Clock;
}

/**
 * Delivers each client's generation frames from the bus to its sockets. The frames arrive rendered
 * and numbered (generations renders them, the bus numbers them); the hub encodes each once and the
 * same Buffer goes to every socket of the client. It never calls back into generations: a late
 * socket's snapshot is the topic's last kept message, `since=` is a bus replay. Three shared timers
 * (heartbeat, idle sweep, ping) serve all sockets, so the cost per socket is one entry in a Set.
 */
export class SocketHub {
  readonly #clients = new Map<string, ClientState>();
  readonly #peers = new Set<Peer>();
  readonly #timers: Timer[] = [];
  #closing = false;

  constructor(private readonly deps: HubDeps) {}

  start(): void {
    const { heartbeatMs, idleTimeoutMs, pingIntervalMs } = this.deps.options;
    const every = (ms: number, fn: () => void) => this.#timers.push(this.deps.clock.setInterval(fn, ms));
    every(heartbeatMs, () => this.#heartbeat());
    every(Math.min(1000, Math.max(10, Math.floor(idleTimeoutMs / 10))), () => this.#sweep());
    every(pingIntervalMs, () => this.#ping());
  }

  stop(): void {
    for (const timer of this.#timers.splice(0)) timer.clear();
    for (const state of this.#clients.values()) {
      state.unsubscribe?.();
      state.unsubscribe = null;
    }
  }

  /** Live sockets of a clientId (for the per-client cap). */
  openSockets(clientId: string): number {
    return this.#clients.get(clientId)?.peers.size ?? 0;
  }

  /**
   * A socket finished its handshake: `connected`, then what it missed (frames after `since`, or
   * frames no socket of the client received yet), then live frames, and a snapshot of a running
   * generation it has not seen at all.
   */
  async attach(ws: WebSocket, clientId: string, since: number | undefined, viewer?: Principal): Promise<void> {
    const now = this.deps.clock.now();
    const peer: Peer = { ws, sink: frameSink(ws), clientId, viewer, lastActivity: now, alive: true, done: false, lastSeq: 0, pending: [] };
    this.#peers.add(peer);
    this.deps.stats.connected++;
    ws.on('pong', () => void (peer.alive = true));
    // Client frames carry nothing the bridge needs; any frame still proves the peer is alive.
    ws.on('message', () => void (peer.alive = true));
    ws.on('error', (error) => this.deps.log.debug({ err: error, clientId }, 'websocket error'));
    ws.on('close', () => this.#forget(peer));
    this.#sendRaw(peer, CONNECTED);
    if (this.#closing) return this.#end(peer, [SHUTDOWN_CLOSED], 1001, 'server shutting down');

    // Subscribed before the replay is read, so nothing published meanwhile is missed (peer.pending).
    const state = this.#client(clientId);
    this.#join(state, peer);
    const { bus, options } = this.deps;
    const topic = clientTopic(clientId);
    const lastSeq = await bus.lastSeq(topic);
    // A `since` beyond the last seq comes from before a restart of the bridge: every kept frame is new then.
    const from = since === undefined ? (state.delivered?.seq ?? 0) : since > lastSeq ? 0 : since;
    let replay = await bus.replay<ClientFrame>(topic, from);
    if (since === undefined) replay = replay.filter((message) => now - message.at < options.undeliveredReplayMs);
    const last = lastSeq > 0 ? (await bus.replay<ClientFrame>(topic, lastSeq - 1)).at(-1) : undefined;
    if (peer.done) return;
    const missed = [...replay, ...(peer.pending ?? [])];
    for (const message of missed) this.#take(state, peer, message);
    peer.pending = null;
    if (peer.done) return;
    if (last && last.seq >= (state.delivered?.seq ?? 0)) state.active = last.payload.active;
    const newest = missed.at(-1);
    if (newest?.payload.ends && options.closeOnDone && newest.payload.active === 0) {
      return this.#end(peer, [], 1000, 'generation ended');
    }
    // A socket opened while a generation runs, that has seen none of it: the last frame as a snapshot.
    if (last && last.seq > peer.lastSeq && !last.payload.ends && last.payload.active > 0 && !(since !== undefined && since >= last.seq)) {
      const { status, details, data } = last.payload;
      this.#send(peer, encode({ status, details, seq: last.seq, snapshot: true, data }));
      peer.lastActivity = this.deps.clock.now();
    }
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
    for (const frame of BOUND_ELSEWHERE) ws.send(payloadOf(frame), TEXT);
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

  /**
   * A live message of a client's topic: to every socket of it (a socket still reading its replay gets
   * it after). Encoded once, on the first socket that takes it; every other socket is sent the same Buffer.
   */
  #deliver(state: ClientState, message: BusMessage<ClientFrame>): void {
    if (this.#closing) return;
    const now = this.deps.clock.now();
    const only = state.only;
    if (only) {
      if (only.pending) only.pending.push(message);
      else this.#take(state, only, message, wire(message), now);
    } else {
      let bytes: TextFrame | undefined;
      for (const peer of state.peers) {
        if (peer.pending) peer.pending.push(message);
        else this.#take(state, peer, message, (bytes ??= wire(message)), now);
      }
    }
    if (message.payload.ends && this.deps.options.closeOnDone && message.payload.active === 0) {
      for (const peer of [...state.peers]) if (!peer.pending) this.#end(peer, [], 1000, 'generation ended');
    }
  }

  /** Sends one numbered frame to one socket unless it had it already. */
  #take(state: ClientState, peer: Peer, message: BusMessage<ClientFrame>, bytes?: TextFrame, now = this.deps.clock.now()): void {
    if (message.seq <= peer.lastSeq) return;
    peer.lastSeq = message.seq;
    if (this.#send(peer, bytes ?? wire(message))) peer.lastActivity = now;
    if (!state.delivered) state.delivered = { seq: message.seq, at: message.at };
    else if (message.seq > state.delivered.seq) {
      state.delivered.seq = message.seq;
      state.delivered.at = message.at;
    }
    state.active = message.payload.active;
  }

  /** Sends and enforces the send-buffer bound: a socket that cannot keep up is cut off, never waited for. */
  #send(peer: Peer, bytes: TextFrame): boolean {
    if (!this.#sendRaw(peer, bytes)) return false;
    // With a sink, what waits in its socket is all there is: ws queues frames of its own (ws.bufferedAmount
    // adds them) only while compressing, and a socket with a sink has no compression. Read there, the
    // check touches no object of ws's per frame (its Sender was a cache miss a frame on the fan-out bench).
    const buffered = peer.sink ? peer.sink.writableLength : peer.ws.bufferedAmount;
    if (buffered > this.deps.options.maxBufferedBytes) {
      this.deps.stats.droppedSlowTotal++;
      this.deps.log.info({ clientId: peer.clientId, buffered: peer.ws.bufferedAmount }, 'websocket cut off: client reads too slowly');
      this.#end(peer, [SLOW_ERROR, SLOW_CLOSED], 1008, 'send buffer overflow');
      return false;
    }
    return true;
  }

  #sendRaw(peer: Peer, frame: TextFrame): boolean {
    if (peer.done || peer.ws.readyState !== WebSocket.OPEN) return false;
    if (peer.sink) peer.sink.write(frame.bytes);
    else peer.ws.send(payloadOf(frame), TEXT);
    this.deps.stats.framesSentTotal++;
    return true;
  }

  /** Last frames, then a close handshake bounded by closeGraceMs. */
  #end(peer: Peer, frames: TextFrame[], code: number, reason: string): void {
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
    if (state.peers.size === 0) {
      this.deps.stats.clientIds++;
      state.unsubscribe ??= this.deps.bus.subscribe<ClientFrame>(clientTopic(peer.clientId), (message) => this.#deliver(state, message));
    }
    state.peers.add(peer);
    state.only = state.peers.size === 1 ? peer : undefined;
  }

  #leave(peer: Peer): void {
    const state = this.#clients.get(peer.clientId);
    if (!state?.peers.delete(peer)) return;
    state.only = state.peers.size === 1 ? state.peers.values().next().value : undefined;
    if (state.peers.size === 0) {
      this.deps.stats.clientIds--;
      state.unsubscribe?.();
      state.unsubscribe = null;
    }
  }

  #client(clientId: string): ClientState {
    let state = this.#clients.get(clientId);
    if (!state) {
      state = { peers: new Set(), only: undefined, unsubscribe: null, delivered: null, active: 0 };
      this.#clients.set(clientId, state);
    }
    return state;
  }

  /**
   * `listening` to every socket, HEARTBEAT_SLICE sockets per turn of the event loop: 1,000 sockets'
   * sends in one timer turn held the loop ~15 ms, on top of whatever ran in the same turn.
   */
  #heartbeat(): void {
    const peers = [...this.#peers];
    const beat = (from: number): void => {
      const to = Math.min(from + HEARTBEAT_SLICE, peers.length);
      for (let i = from; i < to; i++) this.#send(peers[i]!, LISTENING);
      if (to < peers.length && !this.#closing) setImmediate(beat, to);
    };
    beat(0);
  }

  /** Idle time outs, and forgetting clients with no socket and nothing left to replay. */
  #sweep(): void {
    const now = this.deps.clock.now();
    const { idleTimeoutMs, undeliveredReplayMs } = this.deps.options;
    for (const peer of this.#peers) {
      if (peer.done || now - peer.lastActivity <= idleTimeoutMs) continue;
      // A generation waiting in ComfyUI's queue, or inside a long node that reports no steps, sends no
      // frames for a while; its socket is waiting, not idle (the client's last frame says so).
      if ((this.#clients.get(peer.clientId)?.active ?? 0) > 0) {
        peer.lastActivity = now;
        continue;
      }
      this.#end(peer, idleFrames(idleTimeoutMs), 1000, 'idle timeout');
    }
    // A client with no socket is remembered only while a new socket could still be handed its undelivered frames.
    for (const [clientId, state] of this.#clients) {
      if (state.peers.size === 0 && now - (state.delivered?.at ?? 0) > undeliveredReplayMs) this.#clients.delete(clientId);
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

/** Sockets sent their heartbeat in one turn of the event loop. */
const HEARTBEAT_SLICE = 250;

/** Frames are JSON text; a socket without a sink is sent the payload through ws. One options object for every send. */
const TEXT = { binary: false } as const;

/**
 * A numbered frame on the wire (SPEC §2.1): status, details, seq, data — JSON.stringify of that object,
 * byte for byte. The hot path: when the publisher registered a faster encoder for `data`
 * (frameDataEncoders), `data` is written with it and the frame around it here; the entry is taken out
 * (a message is encoded once; a later replay of it encodes it with JSON.stringify).
 */
function wire(message: BusMessage<ClientFrame>): TextFrame {
  const { status, details, data } = message.payload;
  const encoder = frameDataEncoders.get(data);
  if (encoder === undefined) return textFrame(JSON.stringify({ status, details, seq: message.seq, data }));
  frameDataEncoders.delete(data);
  return (encoder.writeInto && bytesOf(status, details, message.seq, data, encoder)) || textFrame(`{"status":${JSON.stringify(status)},"details":${JSON.stringify(details)},"seq":${message.seq},"data":${encoder.encode(data)}}`);
}

/**
 * The same frame written as bytes, piece by piece (the encoder's writeInto; no string of the whole is
 * built); undefined when a piece is not ASCII or it does not fit the scratch buffer (then as text).
 */
function bytesOf(status: string, details: string, seq: number, data: Record<string, unknown>, encoder: FrameDataEncoder): TextFrame | undefined {
  const out = payloadScratch;
  let at = writeJsonString(out, writeAscii(out, 0, '{"status":'), status);
  at = writeJsonString(out, writeAscii(out, at, ',"details":'), details);
  at = writeAscii(out, writeNumber(out, writeAscii(out, at, ',"seq":'), seq), ',"data":');
  if (at < 0) return undefined;
  at = writeAscii(out, encoder.writeInto!(data, out, at), '}');
  return at < 0 ? undefined : scratchFrame(at);
}
