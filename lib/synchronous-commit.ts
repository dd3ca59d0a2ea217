/** What can answer a query: a pg Pool or Client. */
interface Queryable {
  query(text: string): Promise<{ rows: Record<string, unknown>[] }>;
}

/**
 * Refuses a database whose commits do not wait for their WAL flush (`synchronous_commit = off` for the server, the
 * database or the role): an acknowledged generation and a seq a client holds must survive a crash of PostgreSQL, and
 * both rely on each commit's flush. Any other setting (`local`, `on`, `remote_write`, `remote_apply`) flushes
 * locally and is kept as the operator chose. Only the storage's lazy rows turn it off, for their own transaction.
 */
export async function requireSynchronousCommit(db: Queryable, role: string): Promise<void> {
  const { rows } = await db.query('SHOW synchronous_commit');
  const setting = String(rows[0]?.synchronous_commit ?? '');
  if (setting === 'off') {
    throw new Error(
      `synchronous_commit is off for the ${role}'s connections: an acknowledged write could be lost in a crash of PostgreSQL. ` +
        'Turn it on for the bridge (ALTER ROLE <role> SET synchronous_commit = on, or ALTER DATABASE <db> SET synchronous_commit = on, or in postgresql.conf)',
    );
  }
}
