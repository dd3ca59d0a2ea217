import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Resolver } from '../lib/outbound.js';
import type { Storage } from '../contracts/storage.js';
import { startStack, type Answer, type Stack } from './e2e-support.js';
import { grabbing, providing } from './helpers/fixture-plugins.js';
import { makePng, SVG } from './upload-images.js';

/** Image inputs given as a data: URL or an http(s) URL, against the fake ComfyUI and a real image server on 127.0.0.1. */
describe('generate: image inputs by data: URL and http(s) URL', function () {
  this.timeout(30000);
  let stack: Stack | undefined;
  let images: Server;
  let port: number;
  const served: string[] = [];
  const grabbed: { storage?: Storage } = {};
  const png = makePng(5, 4);

  /** The DNS the bridge sees: images.test and sneaky.test are this machine. */
  const resolver: Resolver = async (hostname) => {
    if (hostname === 'images.test' || hostname === 'sneaky.test') return [{ address: '127.0.0.1', family: 4 }];
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  };

  before(async () => {
    images = createServer((req, res) => {
      served.push(req.url ?? '');
      if (req.url === '/fox.png') res.writeHead(200, { 'content-type': 'image/png' }).end(png);
      else if (req.url === '/page.html') res.writeHead(200, { 'content-type': 'text/html' }).end('<html>not an image</html>');
      else if (req.url === '/drawing.svg') res.writeHead(200, { 'content-type': 'image/svg+xml' }).end(SVG);
      else if (req.url === '/huge.png') res.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.concat([png, Buffer.alloc(5000)]));
      else if (req.url === '/moved') res.writeHead(302, { location: '/fox.png' }).end();
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => images.listen(0, '127.0.0.1', resolve));
    port = (images.address() as AddressInfo).port;
  });

  after(async () => {
    images.closeAllConnections();
    await new Promise((resolve) => images.close(resolve));
  });

  async function start(imageInputs: Record<string, unknown>): Promise<Stack> {
    stack = await startStack({
      generate: { imageInputs },
      extraPlugins: [providing('test-dns', { resolver }), grabbing('image-urls-grab', ['storage'], grabbed)],
    });
    return stack;
  }

  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  async function generate(clientId: string, image: string, wait = false): Promise<Answer> {
    const response = await fetch(`${stack!.bridge.url}/generate-based-workflow?clientId=${clientId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workflow: 'invert', '10/image': image, wait }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown>, headers: response.headers };
  }

  /** The image the submitted graph's LoadImage names, as ComfyUI received it. */
  function submittedImage(): Buffer | undefined {
    const prompt = stack!.fake.prompts.find((p) => p.accepted);
    const name = (prompt?.graph['10'] as { inputs: { image: string } } | undefined)?.inputs.image;
    return name === undefined ? undefined : stack!.fake.uploads.get(name);
  }

  it('a data: URL image is checked, stored as an upload of the client and used', async () => {
    await start({});
    const answer = await generate('data-1', `data:image/png;base64,${png.toString('base64')}`, true);
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    expect(answer.body.status).to.equal('closed');
    const gen = (await grabbed.storage!.generations.latestForClient('data-1'))!;
    expect(gen.uploads).to.have.length(1);
    const upload = (await grabbed.storage!.uploads.get(gen.uploads[0]!))!;
    expect([upload.clientId, upload.width, upload.height, upload.field]).to.deep.equal(['data-1', 5, 4, '10/image']);
    expect(submittedImage()).to.not.equal(undefined);
  });

  it('data: URLs: not base64, not an image, or over the limit are refused and nothing is submitted', async () => {
    await start({ maxBytes: 1000 });
    const plain = await generate('data-2', 'data:image/png,rawbytes');
    expect(plain.status).to.equal(400);
    expect(plain.body.detail).to.match(/base64/);
    const svg = await generate('data-2', `data:image/svg+xml;base64,${SVG.toString('base64')}`);
    expect(svg.status, JSON.stringify(svg.body)).to.equal(415);
    expect(svg.body.detail).to.match(/10\/image/);
    const big = await generate('data-2', `data:image/png;base64,${Buffer.alloc(3000).toString('base64')}`);
    expect(big.status).to.equal(413);
    expect(stack!.fake.prompts).to.have.length(0);
    expect(await grabbed.storage!.generations.latestForClient('data-2')).to.equal(undefined);
  });

  it('image URLs are off by default', async () => {
    await start({});
    const before = served.length;
    const answer = await generate('url-0', `http://images.test:${port}/fox.png`);
    expect(answer.status).to.equal(400);
    expect(answer.body.detail).to.match(/image URLs are not accepted/);
    expect(served.length).to.equal(before);
  });

  it('an allowed URL is fetched, checked like an upload and used', async () => {
    await start({ urls: true, allowHosts: ['images.test'], allowPrivateAddresses: true });
    const answer = await generate('url-1', `http://images.test:${port}/fox.png`, true);
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    expect(answer.body.status).to.equal('closed');
    expect(served).to.include('/fox.png');
    const gen = (await grabbed.storage!.generations.latestForClient('url-1'))!;
    const upload = (await grabbed.storage!.uploads.get(gen.uploads[0]!))!;
    expect([upload.width, upload.height]).to.deep.equal([5, 4]);
  });

  it('URL bodies of the wrong type or over the limit, redirects, 404s and hosts off the list are refused', async () => {
    await start({ urls: true, allowHosts: ['images.test'], allowPrivateAddresses: true, maxBytes: 1000 });
    const html = await generate('url-2', `http://images.test:${port}/page.html`);
    // Exactly what POST /upload answers for such a file.
    expect(html.status, JSON.stringify(html.body)).to.equal(400);
    expect(html.body.detail).to.match(/"10\/image": not an image/);
    const svg = await generate('url-2', `http://images.test:${port}/drawing.svg`);
    expect(svg.status).to.equal(415);
    const huge = await generate('url-2', `http://images.test:${port}/huge.png`);
    expect(huge.status, JSON.stringify(huge.body)).to.equal(413);
    const moved = await generate('url-2', `http://images.test:${port}/moved`);
    expect(moved.status).to.equal(400);
    expect(moved.body.detail).to.match(/302.*redirects are not followed/);
    const missing = await generate('url-2', `http://images.test:${port}/nope.png`);
    expect(missing.status).to.equal(400);
    const offList = await generate('url-2', `http://sneaky.test:${port}/fox.png`);
    expect(offList.status).to.equal(400);
    expect(offList.body.detail).to.match(/allow-list/);
    expect(stack!.fake.prompts).to.have.length(0);
  });

  for (const [what, url] of [
    ['a hostname resolving to 127.0.0.1', 'http://images.test:PORT/fox.png'],
    ['the loopback literal', 'http://127.0.0.1:PORT/fox.png'],
    ['the metadata address', 'http://169.254.169.254/latest/meta-data/'],
    ['a private address', 'http://10.0.0.1/fox.png'],
  ] as const) {
    it(`internal addresses are refused unless allowed: ${what}`, async () => {
      await start({ urls: true, allowHosts: ['*'] });
      const before = served.length;
      const answer = await generate('url-3', url.replace('PORT', String(port)));
      expect(answer.status, JSON.stringify(answer.body)).to.equal(400);
      expect(answer.body.detail).to.match(/refused unless allowPrivateAddresses/);
      expect(served.length).to.equal(before);
      expect(stack!.fake.prompts).to.have.length(0);
    });
  }
});
