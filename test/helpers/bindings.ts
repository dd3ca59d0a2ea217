import type { KeyValueStore } from '../../contracts/storage.js';

/** The clientIds storage holds bound to `owner` (the auth plugin keeps them in 16 buckets per key). */
export async function boundClientIds(kv: KeyValueStore, owner: string): Promise<string[]> {
  const ids: string[] = [];
  for (let bucket = 0; bucket < 16; bucket++) ids.push(...Object.keys((await kv.get<Record<string, number>>(`client-bindings:${owner}:${bucket}`)) ?? {}));
  return ids.sort();
}
