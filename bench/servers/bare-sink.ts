// Baseline for P7: the least a server can do with an upload — stream the request body into a new
// file and answer 200 (files are kept until exit, as the bridge keeps uploads). Same Node, same
// disk, same pinning as the bridge. It syncs nothing and parses nothing: the bridge also reads the multipart
// body, checks the image, fdatasyncs the file's data while its record is written (since wave 10: an
// upload answered survives a power loss), renames it into its store with one folder fsync and appends the record
// with an fdatasync (group-committed). The ratio is the issue's: what all that costs over the least a server can do.
import { createWriteStream, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { scratchDirSync } from '../lib/scratch.js';

const dir = scratchDirSync('bench-sink-');
let seq = 0;
const server = createServer((req, res) => {
  const file = join(dir, `body-${seq++}`);
  pipeline(req, createWriteStream(file)).then(
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
