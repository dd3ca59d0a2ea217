import type { Pool } from 'pg';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * The schema, one step per version. A step is applied once, in its own transaction, and recorded in
 * schema_migrations; steps are never edited once released (add a new one instead). Plain CREATE
 * statements on purpose: applying a step twice would fail loudly, not silently diverge.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'generations, tallies, uploads, kv',
    sql: `
      -- The whole generation (minus its id) is the jsonb document; the columns history filters and
      -- sorts on are generated from it, so a patch (doc || patch) can never leave them out of step.
      -- Timestamps stay the contract's ISO strings, ordered byte-wise ("C") exactly like nedb does.
      CREATE TABLE generations (
        id text COLLATE "C" PRIMARY KEY,
        doc jsonb NOT NULL,
        client_id text GENERATED ALWAYS AS (doc ->> 'clientId') STORED NOT NULL,
        owner text GENERATED ALWAYS AS (doc ->> 'owner') STORED,
        workflow text GENERATED ALWAYS AS (doc ->> 'workflow') STORED NOT NULL,
        state text GENERATED ALWAYS AS (doc ->> 'state') STORED NOT NULL,
        prompt_id text GENERATED ALWAYS AS (doc ->> 'promptId') STORED NOT NULL,
        created_at text COLLATE "C" GENERATED ALWAYS AS (doc ->> 'createdAt') STORED NOT NULL
      );
      -- One index per history filter, each ending in the page order, so a page is an index range
      -- read backwards and never a sort of the matching rows. The filter columns are included in
      -- each, so finding a page's ids (however deep the offset) and counting a total no tally covers
      -- are index-only reads; only the page's own rows are fetched from the table.
      CREATE INDEX generations_newest ON generations (created_at, id) INCLUDE (client_id, owner, workflow, state);
      CREATE INDEX generations_by_client ON generations (client_id, created_at, id) INCLUDE (owner, workflow, state);
      CREATE INDEX generations_by_owner ON generations (owner, created_at, id) INCLUDE (client_id, workflow, state) WHERE owner IS NOT NULL;
      CREATE INDEX generations_by_workflow ON generations (workflow, created_at, id) INCLUDE (client_id, owner, state);
      CREATE INDEX generations_by_state ON generations (state, created_at, id) INCLUDE (client_id, owner, workflow);
      CREATE INDEX generations_by_prompt ON generations (prompt_id);

      -- Running counts, kept by triggers in the same transaction as the row change, so a history
      -- total or /generation-count never counts rows. kind: recorded / recorded_state (ever
      -- recorded: prune does not lower them), stored / stored_state / stored_client / stored_owner /
      -- stored_workflow (rows present now), and the status filter combined with one other:
      -- stored_client_state / stored_owner_state / stored_workflow_state, keyed "<state>:<value>"
      -- (a state never holds ":"). Each count is split over 16 slots (by generation id) so
      -- concurrent writers of different generations rarely wait for the same row; a count is the
      -- sum of at most 16 rows read from the primary key.
      CREATE TABLE generation_tallies (
        kind text COLLATE "C" NOT NULL,
        key text COLLATE "C" NOT NULL,
        slot smallint NOT NULL,
        n bigint NOT NULL,
        PRIMARY KEY (kind, key, slot)
      );

      CREATE FUNCTION generation_tally() RETURNS trigger LANGUAGE plpgsql AS $fn$
      DECLARE
        kinds text[] := '{}';
        keys text[] := '{}';
        deltas int[] := '{}';
        bucket smallint;
      BEGIN
        IF TG_OP <> 'DELETE' THEN
          bucket := hashtext(NEW.id) & 15;
          kinds := kinds || ARRAY['stored', 'stored_state', 'stored_client', 'stored_owner', 'stored_workflow', 'recorded_state',
                                  'stored_client_state', 'stored_owner_state', 'stored_workflow_state'];
          keys := keys || ARRAY['', NEW.state, NEW.client_id, NEW.owner, NEW.workflow, NEW.state,
                                NEW.state || ':' || NEW.client_id, NEW.state || ':' || NEW.owner, NEW.state || ':' || NEW.workflow];
          deltas := deltas || ARRAY[1, 1, 1, 1, 1, 1, 1, 1, 1];
          IF TG_OP = 'INSERT' THEN
            kinds := kinds || ARRAY['recorded'];
            keys := keys || ARRAY[''];
            deltas := deltas || ARRAY[1];
          END IF;
        END IF;
        IF TG_OP <> 'INSERT' THEN
          bucket := hashtext(OLD.id) & 15;
          kinds := kinds || ARRAY['stored', 'stored_state', 'stored_client', 'stored_owner', 'stored_workflow',
                                  'stored_client_state', 'stored_owner_state', 'stored_workflow_state'];
          keys := keys || ARRAY['', OLD.state, OLD.client_id, OLD.owner, OLD.workflow,
                                OLD.state || ':' || OLD.client_id, OLD.state || ':' || OLD.owner, OLD.state || ':' || OLD.workflow];
          deltas := deltas || ARRAY[-1, -1, -1, -1, -1, -1, -1, -1];
          IF TG_OP = 'UPDATE' THEN
            kinds := kinds || ARRAY['recorded_state'];
            keys := keys || ARRAY[OLD.state];
            deltas := deltas || ARRAY[-1];
          END IF;
        END IF;
        -- Rows changed in one sorted statement: every writer locks tally rows in the same order,
        -- so two of them never wait for each other in a cycle.
        INSERT INTO generation_tallies AS t (kind, key, slot, n)
        SELECT d.kind, d.key, bucket, sum(d.delta)
        FROM unnest(kinds, keys, deltas) AS d(kind, key, delta)
        WHERE d.key IS NOT NULL
        GROUP BY d.kind, d.key
        HAVING sum(d.delta) <> 0
        ORDER BY d.kind, d.key
        ON CONFLICT (kind, key, slot) DO UPDATE SET n = t.n + EXCLUDED.n;
        RETURN NULL;
      END
      $fn$;

      CREATE TRIGGER generations_tally_rows AFTER INSERT OR DELETE ON generations
        FOR EACH ROW EXECUTE FUNCTION generation_tally();
      -- Progress updates (most updates) change no counted column and skip the tallies.
      CREATE TRIGGER generations_tally_changes AFTER UPDATE ON generations
        FOR EACH ROW
        WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.client_id IS DISTINCT FROM NEW.client_id
              OR OLD.owner IS DISTINCT FROM NEW.owner OR OLD.workflow IS DISTINCT FROM NEW.workflow)
        EXECUTE FUNCTION generation_tally();

      CREATE TABLE uploads (
        name text COLLATE "C" PRIMARY KEY,
        client_id text NOT NULL,
        owner text,
        field text NOT NULL,
        content_type text NOT NULL,
        size bigint NOT NULL,
        width integer NOT NULL,
        height integer NOT NULL,
        created_at text COLLATE "C" NOT NULL,
        used_by text[] NOT NULL DEFAULT '{}'
      );
      -- Only unused uploads can expire: the expiry sweep reads this small index, oldest first.
      CREATE INDEX uploads_unused_by_age ON uploads (created_at, name) WHERE cardinality(used_by) = 0;

      CREATE TABLE kv (
        key text PRIMARY KEY,
        value jsonb NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'generation leases',
    sql: `
      -- Which instance follows an unfinished generation, and until when unless it renews. Added
      -- without a default first (no table rewrite however many rows), then defaulted for new rows
      -- from the inserting session: its connections set comfy_bridge.instance and
      -- comfy_bridge.lease_ms, so a row is leased to its recorder in the insert itself.
      ALTER TABLE generations ADD COLUMN lease_owner text, ADD COLUMN lease_until timestamptz;
      ALTER TABLE generations
        ALTER COLUMN lease_owner SET DEFAULT nullif(current_setting('comfy_bridge.instance', true), ''),
        ALTER COLUMN lease_until SET DEFAULT now()
          + coalesce(nullif(current_setting('comfy_bridge.lease_ms', true), '')::integer, 6000) * interval '1 millisecond';
      -- Only unfinished rows: claiming expired leases reads a small index, never the history.
      CREATE INDEX generations_leases ON generations (lease_until) WHERE state IN ('queued', 'running');
    `,
  },
  {
    version: 3,
    name: 'idempotency keys',
    sql: `
      -- One row per Idempotency-Key and scope (API key or clientId); the primary key is what makes
      -- two concurrent claims of one key queue. The answer is null while the first request runs.
      CREATE TABLE idempotency_keys (
        scope text COLLATE "C" NOT NULL,
        key text COLLATE "C" NOT NULL,
        fingerprint text NOT NULL,
        ref text NOT NULL,
        created_at text COLLATE "C" NOT NULL,
        answer jsonb,
        PRIMARY KEY (scope, key)
      );
      -- Pruning reads the oldest rows.
      CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
    `,
  },
  {
    version: 4,
    name: 'client bindings',
    sql: `
      -- One row per clientId bound to an API key (auth plugin); the primary key makes two keys racing
      -- for one clientId, on any instances, queue: one wins. Expiry is epoch ms, like the contract.
      CREATE TABLE client_bindings (
        client_id text COLLATE "C" PRIMARY KEY,
        owner text COLLATE "C" NOT NULL,
        expires_at bigint NOT NULL
      );
      -- A key's live bindings are counted (its cap), and expired ones pruned, from indexes.
      CREATE INDEX client_bindings_by_owner ON client_bindings (owner, expires_at);
      CREATE INDEX client_bindings_by_expiry ON client_bindings (expires_at);
    `,
  },
  {
    version: 5,
    name: 'webhook outbox',
    sql: `
      -- Who wants to hear about a generation: written before the generation itself.
      CREATE TABLE webhook_subscriptions (
        generation_id text COLLATE "C" PRIMARY KEY,
        url text NOT NULL,
        events text[] NOT NULL,
        secret_ref text NOT NULL,
        created_at text COLLATE "C" NOT NULL
      );
      CREATE INDEX webhook_subscriptions_by_age ON webhook_subscriptions (created_at);

      -- What state changes owe receivers. A row is written by the trigger below, in the transaction
      -- of the generations UPDATE that changed the state: the change and its delivery commit together
      -- or not at all. The id is derived from the change (contracts/outbox.ts deliveryId), so it is
      -- the same in every attempt and a repeat insert is a no-op.
      CREATE TABLE webhook_outbox (
        id text COLLATE "C" PRIMARY KEY,
        generation_id text COLLATE "C" NOT NULL,
        event text NOT NULL,
        url text NOT NULL,
        secret_ref text NOT NULL,
        generation jsonb NOT NULL,
        created_at text COLLATE "C" NOT NULL,
        state text NOT NULL DEFAULT 'pending',
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at text COLLATE "C" NOT NULL,
        last_error text,
        finished_at text COLLATE "C",
        claimed_by text,
        claimed_until text COLLATE "C"
      );
      -- Claiming reads only pending rows, oldest due first.
      CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at) WHERE state = 'pending';
      CREATE INDEX webhook_outbox_by_generation ON webhook_outbox (generation_id, created_at);
      CREATE INDEX webhook_outbox_finished ON webhook_outbox (finished_at) WHERE state <> 'pending';

      CREATE FUNCTION webhook_outbox_derive() RETURNS trigger LANGUAGE plpgsql AS $fn$
      DECLARE
        at text := coalesce(NEW.doc ->> 'updatedAt', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));
      BEGIN
        INSERT INTO webhook_outbox (id, generation_id, event, url, secret_ref, generation, created_at, next_attempt_at)
        SELECT 'msg_' || NEW.id || '_' || NEW.state || '_' || coalesce(NEW.doc ->> 'attempts', '0'), NEW.id,
               'generation.' || NEW.state, s.url, s.secret_ref,
               (NEW.doc - 'graph') || jsonb_build_object('id', NEW.id, 'graph', '{}'::jsonb), at, at
        FROM webhook_subscriptions s
        WHERE s.generation_id = NEW.id AND ('generation.' || NEW.state) = ANY (s.events)
        ON CONFLICT (id) DO NOTHING;
        RETURN NULL;
      END
      $fn$;
      -- Only state changes (a progress update changes no state and skips it).
      CREATE TRIGGER generations_webhook_outbox AFTER UPDATE ON generations
        FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
        EXECUTE FUNCTION webhook_outbox_derive();
    `,
  },
  {
    version: 6,
    name: 'unannounced ends',
    sql: `
      -- A generation's end is two writes: its final state here, then its terminal frames on the bus.
      -- end_pending is true between the two (set by the trigger in the final state's own UPDATE,
      -- cleared by LeaseStore.announced once the frames are out), and the row keeps its lease
      -- meanwhile: an instance killed between the two leaves a final row whose lease runs out, which
      -- a survivor claims to publish the end. A constant default adds the column without a rewrite;
      -- rows that ended before this migration count as announced.
      ALTER TABLE generations ADD COLUMN end_pending boolean NOT NULL DEFAULT false;
      CREATE FUNCTION generations_end_pending() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        NEW.end_pending := true;
        RETURN NEW;
      END
      $fn$;
      -- NEW.state is generated (computed after BEFORE triggers): the new state is read from the doc.
      CREATE TRIGGER generations_end_pending BEFORE UPDATE ON generations
        FOR EACH ROW WHEN (OLD.state IN ('queued', 'running') AND (NEW.doc ->> 'state') NOT IN ('queued', 'running'))
        EXECUTE FUNCTION generations_end_pending();
      -- Only ends not announced yet: claiming reads a small index, never the history.
      CREATE INDEX generations_unannounced ON generations (lease_until) WHERE end_pending;
    `,
  },
  {
    version: 7,
    name: 'room for in-place updates',
    sql: `
      -- Most updates of a generation change only its document (the position ComfyUI answered, progress):
      -- PostgreSQL can write those in place (a HOT update: no entry in any of the eight indexes) only when
      -- the row's page has room for the new version. Pages filled to the brim (the default) had none, so
      -- nearly every such update wrote eight index entries. New pages keep a quarter free; existing rows
      -- are not rewritten (no lock beyond a moment, whatever the table's size).
      ALTER TABLE generations SET (fillfactor = 75);
    `,
  },
  {
    version: 8,
    name: 'one lease per instance',
    sql: `
      -- One lease per instance instead of one per generation: an instance renews its own row (one
      -- statement however many prompts it follows), and its generations (lease_owner) are held while
      -- that row is live. A generation's lease_until is now only a grace period from its insert, its
      -- claim or an explicit renewal (the check before an end is recorded): within it nobody claims the
      -- row even if its instance's lease lapsed, so a row is never taken from an instance that recorded
      -- it moments ago. Rows of an owner with no live row here (dead, or an older release renewing row
      -- by row) are claimable once that grace has run out. lapsed: set by the renewal itself (the row
      -- had run out before it), so an instance learns that a claimer may have taken its generations.
      CREATE TABLE bridge_instances (
        id text COLLATE "C" PRIMARY KEY,
        expires_at timestamptz NOT NULL,
        lapsed boolean NOT NULL DEFAULT false
      );
      -- The generations someone must follow, by owner: claiming finds a dead instance's rows (and the
      -- few distinct owners) from this small index, never from the history.
      CREATE INDEX generations_owned ON generations (lease_owner) WHERE state IN ('queued', 'running') OR end_pending;
      -- Claims no longer search by lease_until: without these two indexes a change of lease_until alone
      -- (a claim's grace, the check before an end) can be written in place (HOT).
      DROP INDEX generations_leases;
      DROP INDEX generations_unannounced;
    `,
  },
  {
    version: 9,
    name: 'fewer tally writes',
    sql: `
      -- The tallies were most of the database's work per submission: every insert upserted ten tally
      -- rows, every state change eight to ten. Two cuts.
      -- 1. "Ever recorded" (recorded, recorded_state) is no longer counted on every write: it is what is
      --    stored now plus what retention deleted (pruned, pruned_state: the state a row had when it
      --    went), and only a delete touches the latter. The existing counts convert slot by slot
      --    (recorded minus stored), so /generation-count reads the same numbers before and after.
      INSERT INTO generation_tallies (kind, key, slot, n)
      SELECT CASE r.kind WHEN 'recorded' THEN 'pruned' ELSE 'pruned_state' END, r.key, r.slot, r.n - coalesce(s.n, 0)
      FROM generation_tallies r
      LEFT JOIN generation_tallies s ON s.kind = CASE r.kind WHEN 'recorded' THEN 'stored' ELSE 'stored_state' END AND s.key = r.key AND s.slot = r.slot
      WHERE r.kind IN ('recorded', 'recorded_state') AND r.n - coalesce(s.n, 0) <> 0;
      DELETE FROM generation_tallies WHERE kind IN ('recorded', 'recorded_state');

      -- 2. Inserts and deletes are counted once per statement (transition tables), not once per row: a
      --    statement of many rows (an instance's concurrent submissions sent together, a retention
      --    batch) upserts each count once, summed. A statement's counts go to one slot (of its first
      --    row's id), so a single-row statement spreads exactly as before.
      CREATE FUNCTION generation_tally_inserted() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        INSERT INTO generation_tallies AS t (kind, key, slot, n)
        SELECT k.kind, k.key, (SELECT hashtext(min(id)) & 15 FROM inserted_rows), count(*)
        FROM inserted_rows g
        CROSS JOIN LATERAL (VALUES ('stored', ''), ('stored_state', g.state), ('stored_client', g.client_id), ('stored_owner', g.owner),
          ('stored_workflow', g.workflow), ('stored_client_state', g.state || ':' || g.client_id),
          ('stored_owner_state', g.state || ':' || g.owner), ('stored_workflow_state', g.state || ':' || g.workflow)) AS k(kind, key)
        WHERE k.key IS NOT NULL
        GROUP BY k.kind, k.key
        ORDER BY k.kind, k.key
        ON CONFLICT (kind, key, slot) DO UPDATE SET n = t.n + EXCLUDED.n;
        RETURN NULL;
      END
      $fn$;
      CREATE FUNCTION generation_tally_deleted() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        INSERT INTO generation_tallies AS t (kind, key, slot, n)
        SELECT k.kind, k.key, (SELECT hashtext(min(id)) & 15 FROM deleted_rows), sum(k.delta)
        FROM deleted_rows g
        CROSS JOIN LATERAL (VALUES ('stored', '', -1), ('stored_state', g.state, -1), ('stored_client', g.client_id, -1),
          ('stored_owner', g.owner, -1), ('stored_workflow', g.workflow, -1), ('stored_client_state', g.state || ':' || g.client_id, -1),
          ('stored_owner_state', g.state || ':' || g.owner, -1), ('stored_workflow_state', g.state || ':' || g.workflow, -1),
          ('pruned', '', 1), ('pruned_state', g.state, 1)) AS k(kind, key, delta)
        WHERE k.key IS NOT NULL
        GROUP BY k.kind, k.key
        ORDER BY k.kind, k.key
        ON CONFLICT (kind, key, slot) DO UPDATE SET n = t.n + EXCLUDED.n;
        RETURN NULL;
      END
      $fn$;
      DROP TRIGGER generations_tally_rows ON generations;
      CREATE TRIGGER generations_tally_inserts AFTER INSERT ON generations
        REFERENCING NEW TABLE AS inserted_rows FOR EACH STATEMENT EXECUTE FUNCTION generation_tally_inserted();
      CREATE TRIGGER generations_tally_deletes AFTER DELETE ON generations
        REFERENCING OLD TABLE AS deleted_rows FOR EACH STATEMENT EXECUTE FUNCTION generation_tally_deleted();

      -- State changes stay counted row by row (the trigger's WHEN skips progress updates, which a
      -- statement-level trigger could not), now without the two "recorded" kinds: six to eight rows.
      CREATE OR REPLACE FUNCTION generation_tally() RETURNS trigger LANGUAGE plpgsql AS $fn$
      DECLARE
        bucket smallint := hashtext(NEW.id) & 15;
      BEGIN
        -- Rows changed in one sorted statement: every writer locks tally rows in the same order,
        -- so two of them never wait for each other in a cycle.
        INSERT INTO generation_tallies AS t (kind, key, slot, n)
        SELECT d.kind, d.key, bucket, sum(d.delta)
        FROM (VALUES
          ('stored_state', NEW.state, 1), ('stored_client', NEW.client_id, 1), ('stored_owner', NEW.owner, 1),
          ('stored_workflow', NEW.workflow, 1), ('stored_client_state', NEW.state || ':' || NEW.client_id, 1),
          ('stored_owner_state', NEW.state || ':' || NEW.owner, 1), ('stored_workflow_state', NEW.state || ':' || NEW.workflow, 1),
          ('stored_state', OLD.state, -1), ('stored_client', OLD.client_id, -1), ('stored_owner', OLD.owner, -1),
          ('stored_workflow', OLD.workflow, -1), ('stored_client_state', OLD.state || ':' || OLD.client_id, -1),
          ('stored_owner_state', OLD.state || ':' || OLD.owner, -1), ('stored_workflow_state', OLD.state || ':' || OLD.workflow, -1)
        ) AS d(kind, key, delta)
        WHERE d.key IS NOT NULL
        GROUP BY d.kind, d.key
        HAVING sum(d.delta) <> 0
        ORDER BY d.kind, d.key
        ON CONFLICT (kind, key, slot) DO UPDATE SET n = t.n + EXCLUDED.n;
        RETURN NULL;
      END
      $fn$;
    `,
  },
  {
    version: 10,
    name: 'state changes counted once per statement',
    sql: `
      -- An instance now sends its concurrent updates as one statement of many rows. Counted row by row,
      -- such a statement locked tally rows row after row (each row's in its own slot), so two statements
      -- could lock the same tally rows in opposite orders and wait for each other until the deadlock
      -- timeout. Counted once per statement instead (transition tables, as inserts and deletes since
      -- migration 9): each count upserted once, summed, in one slot (of the first changed row's id),
      -- in (kind, key) order, so concurrent writers always lock tally rows in the same order. Updates
      -- that change no counted column (progress, positions, leases) find no changed row and write none.
      CREATE FUNCTION generation_tally_updated() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        WITH changed AS (
          SELECT n.id, n.state, n.client_id, n.owner, n.workflow,
            o.state AS old_state, o.client_id AS old_client_id, o.owner AS old_owner, o.workflow AS old_workflow
          FROM new_rows n JOIN old_rows o USING (id)
          WHERE o.state IS DISTINCT FROM n.state OR o.client_id IS DISTINCT FROM n.client_id
            OR o.owner IS DISTINCT FROM n.owner OR o.workflow IS DISTINCT FROM n.workflow
        )
        INSERT INTO generation_tallies AS t (kind, key, slot, n)
        SELECT k.kind, k.key, (SELECT hashtext(min(id)) & 15 FROM changed), sum(k.delta)
        FROM changed g
        CROSS JOIN LATERAL (VALUES
          ('stored_state', g.state, 1), ('stored_client', g.client_id, 1), ('stored_owner', g.owner, 1),
          ('stored_workflow', g.workflow, 1), ('stored_client_state', g.state || ':' || g.client_id, 1),
          ('stored_owner_state', g.state || ':' || g.owner, 1), ('stored_workflow_state', g.state || ':' || g.workflow, 1),
          ('stored_state', g.old_state, -1), ('stored_client', g.old_client_id, -1), ('stored_owner', g.old_owner, -1),
          ('stored_workflow', g.old_workflow, -1), ('stored_client_state', g.old_state || ':' || g.old_client_id, -1),
          ('stored_owner_state', g.old_state || ':' || g.old_owner, -1), ('stored_workflow_state', g.old_state || ':' || g.old_workflow, -1)
        ) AS k(kind, key, delta)
        WHERE k.key IS NOT NULL
        GROUP BY k.kind, k.key
        HAVING sum(k.delta) <> 0
        ORDER BY k.kind, k.key
        ON CONFLICT (kind, key, slot) DO UPDATE SET n = t.n + EXCLUDED.n;
        RETURN NULL;
      END
      $fn$;
      DROP TRIGGER generations_tally_changes ON generations;
      CREATE TRIGGER generations_tally_updates AFTER UPDATE ON generations
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION generation_tally_updated();
    `,
  },
];

/** Session advisory lock key ("comfy" in ASCII); advisory locks are per database. */
const MIGRATION_LOCK = 0x636f6d6679;

export interface MigrationResult {
  /** Versions this call applied (empty when the schema was already current). */
  applied: number[];
  /** Versions recorded in the database that this code does not know (a newer release migrated it). */
  unknown: number[];
}

/**
 * Brings the schema up to date. Several instances may start at once: they queue on a session
 * advisory lock, and each one reads what is applied only once it holds it, so every step runs
 * exactly once. The lock is released with the session if the process dies mid-way.
 */
export async function migrate(pool: Pool, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationResult> {
  const client = await pool.connect();
  let broken = false;
  try {
    // Waiting for another instance's migration, or building an index on a big table, may take
    // longer than the statement timeout that guards requests.
    await client.query('SET statement_timeout = 0');
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
      const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
      const done = new Set(rows.map((row) => row.version));
      const applied: number[] = [];
      for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
        if (done.has(migration.version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(migration.sql);
          await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw new Error(`migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`, { cause: error });
        }
        applied.push(migration.version);
      }
      const known = new Set(migrations.map((m) => m.version));
      return { applied, unknown: [...done].filter((v) => !known.has(v)).sort((a, b) => a - b) };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => (broken = true));
      await client.query('RESET statement_timeout').catch(() => (broken = true));
    }
  } catch (error) {
    broken = true;
    throw error;
  } finally {
    // A connection whose state we are unsure of is closed rather than returned to the pool.
    client.release(broken);
  }
}
