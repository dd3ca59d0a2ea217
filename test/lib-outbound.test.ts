import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkOutboundUrl, internalAddressKind, OutboundRefused, OutboundTooLarge, outboundRequest, type OutboundPolicy, type Resolver } from '../lib/outbound.js';

/** A DNS that answers what the test says (hostile answers included). */
const fakeDns =
  (answers: Record<string, string[]>): Resolver =>
  async (hostname) => {
    const addresses = answers[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

const DNS = fakeDns({
  'loopback.test': ['127.0.0.1'],
  'metadata.test': ['169.254.169.254'],
  'private.test': ['10.0.0.1'],
  'mixed.test': ['93.184.216.34', '127.0.0.1'],
  'receiver.test': ['127.0.0.1'],
});

async function refusal(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a refusal');
}

describe('lib/outbound: requests to client-chosen URLs', () => {
  let server: Server;
  let port: number;
  const hits: string[] = [];

  before(async () => {
    server = createServer((req, res) => {
      hits.push(req.url ?? '');
      if (req.url === '/redirect') {
        res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      } else if (req.url === '/big') {
        res.writeHead(200, { 'content-length': '2000' }).end(Buffer.alloc(2000));
      } else if (req.url === '/big-chunked') {
        res.writeHead(200);
        for (let i = 0; i < 20; i++) res.write(Buffer.alloc(100));
        res.end();
      } else if (req.url === '/silent') {
        // never answers
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('hello');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const strict: OutboundPolicy = { allowHosts: ['*'], allowPrivateAddresses: false, resolve: DNS };
  const open: OutboundPolicy = { allowHosts: ['*'], allowPrivateAddresses: true, resolve: DNS };
  const limits = { timeoutMs: 2000, maxBytes: 1000 };

  it('names internal addresses, IPv4-mapped IPv6 included, and passes public ones', () => {
    expect(internalAddressKind('127.0.0.1')).to.equal('loopback');
    expect(internalAddressKind('169.254.169.254')).to.match(/metadata/);
    expect(internalAddressKind('10.0.0.1')).to.equal('private');
    expect(internalAddressKind('192.168.1.1')).to.equal('private');
    expect(internalAddressKind('::1')).to.equal('loopback');
    expect(internalAddressKind('::ffff:127.0.0.1')).to.equal('loopback');
    expect(internalAddressKind('fd12::1')).to.equal('unique-local');
    expect(internalAddressKind('93.184.216.34')).to.equal(undefined);
    expect(internalAddressKind('2606:2800:220:1::1')).to.equal(undefined);
  });

  it('refuses other schemes, credentials, hosts off the allow-list and internal IP literals', () => {
    expect(() => checkOutboundUrl('ftp://example.com/x', strict)).to.throw(OutboundRefused, /http and https/);
    expect(() => checkOutboundUrl('http://u:p@example.com/', strict)).to.throw(OutboundRefused, /credentials/);
    expect(() => checkOutboundUrl('http://evil.example/', { ...strict, allowHosts: ['*.example.com', 'hooks.test'] })).to.throw(OutboundRefused, /allow-list/);
    expect(checkOutboundUrl('https://a.example.com/x', { ...strict, allowHosts: ['*.example.com'] }).hostname).to.equal('a.example.com');
    for (const literal of ['http://127.0.0.1/', 'http://169.254.169.254/', 'http://10.0.0.1/', 'http://[::1]/', 'http://[::ffff:127.0.0.1]/']) {
      expect(() => checkOutboundUrl(literal, strict), literal).to.throw(OutboundRefused, /refused unless/);
    }
  });

  for (const [host, kind] of [['loopback.test', 'loopback'], ['metadata.test', 'metadata'], ['private.test', 'private'], ['mixed.test', 'loopback']] as const) {
    it(`refuses a hostname whose DNS answer is internal: ${host} (${kind}), before connecting`, async () => {
      const before = hits.length;
      const error = await refusal(outboundRequest(`http://${host}:${port}/`, strict, limits));
      expect(error).to.be.instanceOf(OutboundRefused);
      expect(error.message).to.contain(kind);
      expect(hits.length).to.equal(before);
    });
  }

  it('connects to the address it checked (the pinned answer, not a second lookup) when internal addresses are allowed', async () => {
    // receiver.test exists only in the injected DNS: reaching the server proves the connection used its answer.
    const answer = await outboundRequest(`http://receiver.test:${port}/hello`, open, limits);
    expect(answer.status).to.equal(200);
    expect(answer.body.toString()).to.equal('hello');
    expect(hits).to.include('/hello');
  });

  it('does not follow redirects: the 3xx is the answer', async () => {
    const answer = await outboundRequest(`http://receiver.test:${port}/redirect`, open, limits);
    expect(answer.status).to.equal(302);
    expect(answer.headers.location).to.match(/169\.254/);
  });

  it('refuses an answer over the size limit, declared or streamed', async () => {
    expect(await refusal(outboundRequest(`http://receiver.test:${port}/big`, open, limits))).to.be.instanceOf(OutboundTooLarge);
    expect(await refusal(outboundRequest(`http://receiver.test:${port}/big-chunked`, open, limits))).to.be.instanceOf(OutboundTooLarge);
  });

  it('gives up on a server that never answers', async () => {
    const error = await refusal(outboundRequest(`http://receiver.test:${port}/silent`, open, { ...limits, timeoutMs: 200 }));
    expect(error).to.be.instanceOf(OutboundRefused);
    expect(error.message).to.match(/within 200 ms/);
  });
});
