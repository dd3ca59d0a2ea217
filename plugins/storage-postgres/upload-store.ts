import type { Pool } from 'pg';
import type { UploadRecord, UploadStore } from '../../contracts/storage.js';

interface UploadRow {
  name: string;
  client_id: string;
  owner: string | null;
  field: string;
  content_type: string;
  size: string;
  width: number;
  height: number;
  created_at: string;
  used_by: string[];
}

const fromRow = (row: UploadRow): UploadRecord => ({
  name: row.name,
  clientId: row.client_id,
  owner: row.owner,
  field: row.field,
  contentType: row.content_type,
  size: Number(row.size),
  width: row.width,
  height: row.height,
  createdAt: row.created_at,
  usedBy: row.used_by,
});

const COLUMNS = 'name, client_id, owner, field, content_type, size, width, height, created_at, used_by';

export class PostgresUploadStore implements UploadStore {
  constructor(private readonly pool: Pool) {}

  async insert(upload: UploadRecord): Promise<void> {
    const u = upload;
    await this.pool.query(`INSERT INTO uploads (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, [
      u.name,
      u.clientId,
      u.owner,
      u.field,
      u.contentType,
      u.size,
      u.width,
      u.height,
      u.createdAt,
      u.usedBy,
    ]);
  }

  async get(name: string): Promise<UploadRecord | undefined> {
    const { rows } = await this.pool.query<UploadRow>(`SELECT ${COLUMNS} FROM uploads WHERE name = $1`, [name]);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async markUsed(name: string, generationId: string): Promise<void> {
    // A set: adding an id twice keeps one (the row lock makes two concurrent adds queue).
    await this.pool.query('UPDATE uploads SET used_by = array_append(used_by, $2) WHERE name = $1 AND NOT ($2 = ANY (used_by))', [name, generationId]);
  }

  async unmarkUsed(name: string, generationId: string): Promise<void> {
    await this.pool.query('UPDATE uploads SET used_by = array_remove(used_by, $2) WHERE name = $1 AND $2 = ANY (used_by)', [name, generationId]);
  }

  async expired(before: string): Promise<UploadRecord[]> {
    const { rows } = await this.pool.query<UploadRow>(
      `SELECT ${COLUMNS} FROM uploads WHERE cardinality(used_by) = 0 AND created_at < $1 ORDER BY created_at, name`,
      [before],
    );
    return rows.map(fromRow);
  }

  async delete(name: string): Promise<void> {
    await this.pool.query('DELETE FROM uploads WHERE name = $1', [name]);
  }
}
