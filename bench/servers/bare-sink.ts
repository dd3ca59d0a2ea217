// Baseline for P7: the least a server can do with an upload — stream the request body into a new
// file and answer 200 (files are kept until exit, as the bridge keeps uploads). Same Node, same
// disk, same pinning as the bridge. It syncs nothing and parses nothing: the bridge also reads the multipart
// body, checks the image, fdatasyncs the file's data while its record is written (since wave 10: an
// upload answered survives a power loss), renames it into its store with one folder fsync and appends the record
// with an fdatasync (group-committed). The ratio is the issue's: what all that costs over the least a server can do.
//
// BENCH_SINK_DURABLE=1 (a second baseline, wave 14): the least a server can do that keeps the bridge's promise for the
// file — the body streamed into a temporary file, synced before it closes (fsync), the file renamed to its name and the
// folder's fsync made before the answer (group-committed with the bridge's own DirectorySyncs: the answers waiting while
// one is on its way share the next). Still no parsing, no check and no record: the bridge's ratio to it is what its
// work costs beside durability, and this sink's ratio to the bare one is what durability itself costs on this disk.
import { createWriteStream, rmSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DirectorySyncs } from '../../contracts/directory-sync.js';
import { scratchDirSync } from '../lib/scratch.js';

const dir = scratchDirSync('bench-sink-');
const durable = process.env.BENCH_SINK_DURABLE === '1';
let seq = 0;

/** The folder's fsyncs, group-committed as the bridge's are (answers waiting while one is on its way share the next). */
const folderSyncs = new DirectorySyncs(() => true);

async function keep(req: IncomingMessage, file: string): Promise<void> {
  if (!durable) return pipeline(req, createWriteStream(file));
  const temp = `${file}.part`;
  // flush: the stream fsyncs the file before it closes it (for a new file, the same disk work as an fdatasync).
  await pipeline(req, createWriteStream(temp, { flags: 'wx', flush: true }));
  await rename(temp, file);
  await folderSyncs.sync(dir);
}

const server = createServer((req, res) => {
  keep(req, join(dir, `body-${seq++}`)).then(
    () => res.end('{}'),
    () => {
      res.statusCode = 500;
      res.end();
    },
  );
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address() as { port: number };
  process.stdout.write(`LISTENING http://127.0.0.1:${address.port}\n`);
});
process.on('SIGTERM', () =>
  server.close(() => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  }),
);
