import { expect } from 'chai';
import type { BackendConnection } from '../plugins/comfyui/backend-connection.js';
import { ObjectInfoCache } from '../plugins/comfyui/object-info.js';

/** A backend that answers /object_info/<class> from a table, counting the requests, after `delay`. */
function backend(table: Record<string, object>, opts: { up?: boolean; hang?: boolean } = {}) {
  const asked: string[] = [];
  const conn = {
    up: opts.up ?? true,
    lastError: null as string | null,
    http: {
      json: async (_method: string, path: string) => {
        const classType = decodeURIComponent(path.split('/').pop()!);
        asked.push(classType);
        if (opts.hang) await new Promise(() => undefined);
        return { status: 200, body: classType in table ? { [classType]: table[classType] } : {} };
      },
    },
  };
  return { conn: conn as unknown as BackendConnection, asked };
}

describe('comfyui: the one /object_info cache', () => {
  let now = 0;
  const clock = () => now;

  it('asks once per class while fresh, again after its TTL, and never caches a miss', async () => {
    const a = backend({ SaveImage: { output_node: true } });
    const cache = new ObjectInfoCache(1000, clock);
    expect(await cache.get([a.conn], 'SaveImage')).to.deep.equal({ output_node: true });
    expect(await cache.get([a.conn], 'SaveImage')).to.deep.equal({ output_node: true });
    expect(a.asked).to.deep.equal(['SaveImage']);
    now = 1000;
    await cache.get([a.conn], 'SaveImage');
    expect(a.asked).to.deep.equal(['SaveImage', 'SaveImage']);
    expect(await cache.get([a.conn], 'Custom')).to.equal(undefined);
    expect(await cache.get([a.conn], 'Custom')).to.equal(undefined);
    expect(a.asked.filter((c) => c === 'Custom')).to.have.length(2);
  });

  it('shares one request between concurrent asks, and skips backends that are down or do not know the class', async () => {
    const down = backend({ Node: { a: 1 } }, { up: false });
    const without = backend({});
    const withIt = backend({ Node: { a: 2 } });
    const cache = new ObjectInfoCache(60_000, clock);
    const answers = await Promise.all([cache.get([down.conn, without.conn, withIt.conn], 'Node'), cache.get([down.conn, without.conn, withIt.conn], 'Node')]);
    expect(answers).to.deep.equal([{ a: 2 }, { a: 2 }]);
    expect(down.asked).to.deep.equal([]);
    expect(without.asked).to.deep.equal(['Node']);
    expect(withIt.asked).to.deep.equal(['Node']);
  });

  it("bounds a caller's wait without cancelling the shared request", async () => {
    const hung = backend({ Slow: {} }, { hang: true });
    const cache = new ObjectInfoCache(60_000, clock);
    expect(await cache.get([hung.conn], 'Slow', 20)).to.equal(undefined);
    expect(await cache.get([hung.conn], 'Slow', 20)).to.equal(undefined);
    expect(hung.asked).to.deep.equal(['Slow']); // the second ask joined the first request
  });
});
