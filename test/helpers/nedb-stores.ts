import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NedbStorage, type OpenStorageOptions } from '../../plugins/storage-nedb/nedb-storage.js';

const quietLog = { warn: () => undefined, info: () => undefined };

/**
 * For a describe block of file-store tests: a fresh data dir before each test (handed to `onDir`), and the stores
 * opened on it through `open`, closed before the dir is removed after the test (a test that closes one itself uses
 * `close`, so it is not closed twice).
 */
export function nedbStoresPerTest(
  prefix: string,
  onDir: (dir: string) => void,
): { open: (options?: Partial<OpenStorageOptions>) => Promise<NedbStorage>; close: (storage: NedbStorage) => Promise<void> } {
  const opened: NedbStorage[] = [];
  let dataDir = '';
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), prefix));
    onDir(dataDir);
  });
  afterEach(async () => {
    for (const storage of opened.splice(0)) await storage.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  return {
    open: async (options = {}) => {
      const storage = await NedbStorage.open({ dataDir, inMemory: false, log: quietLog, ...options });
      opened.push(storage);
      return storage;
    },
    close: async (storage) => {
      opened.splice(opened.indexOf(storage), 1);
      await storage.close();
    },
  };
}
