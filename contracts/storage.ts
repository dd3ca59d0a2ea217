import type { ClientBindingStore } from './client-bindings.js';
import type { Generation, GenerationState } from './generation.js';
import type { OutboxStore } from './outbox.js';

/**
 * The storage contract. The default implementation is plugins/storage-nedb; other backends
 * (SQLite, PostgreSQL) implement the same interface. Keep it small and free of engine specifics.
 * Every method returns copies: mutating a returned object never changes the store.
 */
export interface HistoryQuery {
  clientId?: string;
  owner?: string;
  workflow?: string;
  state?: GenerationState;
  /** 1..100 */
  limit: number;
  offset: number;
}

export interface GenerationCounts {
  /** Every generation ever recorded in this store (retention does not lower it). */
  total: number;
  byState: Record<GenerationState, number>;
}

export interface GenerationWriteOptions {
  /**
   * No one waits for this change to be on the disk (`running`, progress): a store may resolve once a kill of
   * the process can no longer lose it and sync it with its next durable write or shortly after (nedb: 200 ms),
   * as PostgreSQL's asynchronous commit does. A power loss may then take it back; recovery reconciles an
   * unfinished row with ComfyUI either way. Stores without such a step write it as any other.
   */
  lazy?: boolean;
  /**
   * Only while this instance holds the generation's lease (LeaseStore), which the same write renews (a fresh
   * ttlMs, as renew() would): the runner records an end so, so no other instance can claim the row between
   * the check and the write, and the end costs one statement, not a renewal and then a write. When another
   * instance holds the lease (it claimed the row after this one's ran out), nothing is written and write
   * resolves false. A store whose leases never run out (one process) writes as without it.
   */
  owned?: boolean;
}

export interface GenerationStore {
  /**
   * Resolves once the row is durable. `inFile`, where the store has such a step (the nedb datafile), is
   * called earlier, once the row is where a kill of this process cannot lose it (written, not yet
   * fdatasynced): the runner submits the prompt from then on, while the sync runs (docs/architecture.md,
   * "The answer path"). A store without that step never calls it; the caller then waits for the insert.
   */
  insert(gen: Generation, inFile?: () => void): Promise<void>;
  /** Applies the patch and returns the updated record, or undefined for an unknown id. */
  update(id: string, patch: Partial<Omit<Generation, 'id'>>): Promise<Generation | undefined>;
  /**
   * Applies the patch as update does (durable, counted, observed the same way) and returns no row: the
   * store need not read it back. The generations runner's writes (every state change and progress
   * tick) never read it. Resolves false when it wrote nothing: an unknown id, or (`owned`) a row another
   * instance holds. `lazy`, `owned`: see GenerationWriteOptions.
   */
  write(id: string, patch: Partial<Omit<Generation, 'id'>>, options?: GenerationWriteOptions): Promise<boolean>;
  get(id: string): Promise<Generation | undefined>;
  /** The generation ComfyUI knows by this prompt_id (optional: storage backends may omit it). */
  getByPromptId?(promptId: string): Promise<Generation | undefined>;
  /** The client's newest generation (by createdAt). */
  latestForClient(clientId: string): Promise<Generation | undefined>;
  /** Newest first (createdAt desc, then id desc). */
  page(query: HistoryQuery): Promise<{ items: Generation[]; total: number }>;
  /** Generations in state queued or running (for reconciliation at start). */
  unfinished(): Promise<Generation[]>;
  counts(): Promise<GenerationCounts>;
  /**
   * Optional (a store several instances share): queued + running generations of one client and of the
   * whole store, in one read (the 429 caps ask on every submission). Without it they are read from
   * counts() and page().
   */
  activeCounts?(clientId: string): Promise<{ client: number; all: number }>;
  /** Deletes finished generations created before `before` and/or beyond the newest `keep`; returns what was deleted. */
  prune(rule: { before?: string; keep?: number }): Promise<Generation[]>;
}

export interface UploadRecord {
  /** The stored name (fresh, random; never the client's file name). */
  name: string;
  clientId: string;
  owner: string | null;
  /** The multipart field the client used. */
  field: string;
  contentType: string;
  size: number;
  width: number;
  height: number;
  createdAt: string;
  /** Generation ids that used it; a used upload does not expire. */
  usedBy: string[];
}

export interface UploadStore {
  insert(upload: UploadRecord): Promise<void>;
  get(name: string): Promise<UploadRecord | undefined>;
  markUsed(name: string, generationId: string): Promise<void>;
  /** Forgets that a (deleted) generation used it, so an upload no generation uses any more can expire. */
  unmarkUsed(name: string, generationId: string): Promise<void>;
  /** Unused uploads created before `before`. */
  expired(before: string): Promise<UploadRecord[]>;
  delete(name: string): Promise<void>;
}

/** Small durable settings (e.g. the bridge's own ComfyUI clientId). */
export interface KeyValueStore {
  get<T = unknown>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown): Promise<void>;
}

/**
 * Which bridge instance follows which unfinished (queued or running) generation. The instance that
 * records a generation holds its lease from the insert on and renews it while it follows the
 * prompt; when an instance dies its leases run out and a survivor claims them (each one exactly
 * once) and follows those prompts on. A single-process backend is trivially always the owner: it
 * only hands out what an earlier run of the process left unfinished.
 */
export interface LeaseStore {
  /** This process's instance id (the owner written on the leases it holds). */
  readonly instance: string;
  /** How long a lease lasts when not renewed, in ms (renew well within it). */
  readonly ttlMs: number;
  /** Extends this instance's leases on these generations; returns the ids it still holds (one whose lease ran out may have been claimed by another instance). */
  renew(ids: string[]): Promise<string[]>;
  /**
   * Optional: one lease for the whole instance, which holds all its generations while it is renewed
   * (storage-postgres: one statement however many generations it follows). Renews it; true when it
   * never ran out since the last renewal, so none of this instance's generations can have been
   * claimed and renew(ids) is not needed; false when it did (then renew(ids) tells which are still
   * held). Without it, the instance renews every generation's lease with renew(ids).
   */
  heartbeat?(): Promise<boolean>;
  /** Takes over at most `limit` unfinished generations whose lease ran out (or that nobody ever leased), and as many finished but unannounced ones (see announced); each is handed to exactly one claimer. */
  claimExpired(limit: number): Promise<Generation[]>;
  /**
   * These generations' ends are announced (their terminal frames published): their leases end. Until
   * then a generation whose final state is stored stays leased, and with finite leases claimExpired
   * also hands out a finished generation whose end was not announced once its lease ran out, so a
   * survivor announces an end its instance died before publishing.
   */
  announced(ids: string[]): Promise<void>;
  /** Gives up this instance's leases on these generations (at stop), so another instance can claim them at once. */
  release(ids: string[]): Promise<void>;
}

/**
 * One Idempotency-Key as a request used it (contracts/idempotency.ts). `ref` names what the request
 * made (a generation id minted before it is recorded, or an upload batch): written before the work,
 * so a request cut by a crash is found again by its retry.
 */
export interface IdempotencyRecord {
  /** Whose key: the API key, or the clientId when auth is off ("key:<id>" / "client:<clientId>"). */
  scope: string;
  key: string;
  /** Hash of what the request asked for: the same key with another request is refused. */
  fingerprint: string;
  ref: string;
  createdAt: string;
  /** The first answer, once there is one (replayed verbatim); null while the request runs. */
  answer: { status: number; body: unknown } | null;
}

export interface IdempotencyStore {
  /**
   * Records `record` unless (scope, key) already holds one created at or after `since`, atomically
   * (two claims at once: one wins, the other gets the winner's record). Returns the record that holds.
   */
  claim(record: IdempotencyRecord, since: string): Promise<IdempotencyRecord>;
  get(scope: string, key: string): Promise<IdempotencyRecord | undefined>;
  /** Stores the answer, if the record still has this ref. */
  complete(scope: string, key: string, ref: string, answer: { status: number; body: unknown }): Promise<void>;
  /** Forgets the key (the request failed and may be tried again), if the record still has this ref. */
  release(scope: string, key: string, ref: string): Promise<void>;
  /** Deletes records created before `before`; returns how many. */
  prune(before: string): Promise<number>;
}

/**
 * A name held by this process (ProcessLocks): until it is released, or until the process dies however it dies
 * (SIGKILL included), no other process can take it.
 */
export interface HeldName {
  /** Resolves if the hold ends without release() (the connection that held it was lost): stop relying on it. */
  readonly lost: Promise<void>;
  /** False once lost or released. */
  isHeld(): boolean;
  release(): Promise<void>;
}

/**
 * Optional (a store several instances share, storage-postgres): names held for a process's life, so that files a
 * process keeps in a shared folder (results' write-ahead logs, one per instance) are told apart from those of a dead
 * process, which another may take over. Node has no file lock that a shared volume honours.
 */
export interface ProcessLocks {
  /** Holds `name` for this process (it must be unique to it); rejects when another holds it or the store cannot. */
  hold(name: string): Promise<HeldName>;
  /** Takes `name` when no live process holds it (or this one does: not for the process's own names); undefined when one does. */
  tryTake(name: string): Promise<HeldName | undefined>;
}

export interface Storage {
  readonly generations: GenerationStore;
  readonly uploads: UploadStore;
  readonly kv: KeyValueStore;
  /** Who follows which unfinished generation (insert() leases a new one to this instance). */
  readonly leases: LeaseStore;
  /** Idempotency-Key records of generate and upload. */
  readonly idempotency: IdempotencyStore;
  /** clientId ↔ API key bindings (contracts/client-bindings.ts), read by the auth plugin when the store is shared. */
  readonly clientBindings: ClientBindingStore;
  /** Webhook subscriptions and the deliveries generations' state changes owe (contracts/outbox.ts). */
  readonly outbox: OutboxStore;
  /** True while open; /ready reports it. */
  isOpen(): boolean;
  /**
   * True when several bridge processes may use this store at once (storage-postgres): work other
   * instances hold is only visible here, so global limits (429 caps) count from the store.
   * Absent or false: this process is the store's only user (storage-nedb holds a lock).
   */
  readonly shared?: boolean;
  /**
   * false when a resolved write is not on the disk (storage-nedb with `syncWrites: false` or `inMemory`): the files
   * rows name (results, uploads) are then not synced either, which would buy nothing. Absent or true: rows are
   * durable once written, and so are the files before their rows are.
   */
  readonly syncsWrites?: boolean;
  /** Names held for a process's life (ProcessLocks); absent where the store offers none (storage-nedb's process is alone). */
  readonly processLocks?: ProcessLocks;
}

declare module '../core/services.js' {
  interface ServiceMap {
    /** Where generations, uploads, counters and small key-values are kept (plugins/storage-*). */
    storage: Storage;
  }
}
