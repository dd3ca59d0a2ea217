import { expect } from 'chai';
import crypto from 'node:crypto';
import sinon from 'sinon';
import { BootError } from '../core/errors.js';
import { presentedKey } from '../plugins/auth/extract-key.js';
import { KeyRing } from '../plugins/auth/key-ring.js';
import { parseKeys } from '../plugins/auth/options.js';
import type { AuthRequest } from '../contracts/auth.js';

const ADMIN_KEY = 'admin-key-0123456789abcdef';
const CLIENT_KEY = 'client-key-0123456789abcdef';

describe('auth: key options', () => {
  it('parses the compact string form of COMFY_BRIDGE_API_KEYS; a key without a scope is a client key', () => {
    const specs = parseKeys(` ${ADMIN_KEY}:admin, ${CLIENT_KEY}:client ,plain-key-0123456789,both-key-0123456789:admin+client,`);
    expect(specs).to.deep.equal([
      { key: ADMIN_KEY, scopes: ['admin'] },
      { key: CLIENT_KEY, scopes: ['client'] },
      { key: 'plain-key-0123456789', scopes: ['client'] },
      { key: 'both-key-0123456789', scopes: ['admin', 'client'] },
    ]);
  });

  it('takes objects (scopes default to client) and compact strings mixed in a list', () => {
    const specs = parseKeys([{ id: 'web', key: CLIENT_KEY }, { key: ADMIN_KEY, scopes: ['admin'] }, `other-key-0123456789:admin`]);
    expect(specs).to.deep.equal([
      { id: 'web', key: CLIENT_KEY, scopes: ['client'] },
      { key: ADMIN_KEY, scopes: ['admin'] },
      { key: 'other-key-0123456789', scopes: ['admin'] },
    ]);
  });

  it('refuses short keys, unknown scopes, odd characters and an empty list, without printing the key', () => {
    const refusal = (keys: Parameters<typeof parseKeys>[0]): BootError => {
      try {
        parseKeys(keys);
      } catch (error) {
        expect(error).to.be.instanceOf(BootError);
        return error as BootError;
      }
      throw new Error('parseKeys accepted bad keys');
    };
    const short = refusal(`${ADMIN_KEY}:admin,shortkey:client`);
    expect(short.message).to.match(/entry #2: the key is shorter than 16 characters/);
    expect(short.message).not.to.include('shortkey');
    expect(refusal([{ id: 'tiny', key: 'abc' }]).message).to.include('entry #1 (id "tiny")');
    const scope = refusal(`${CLIENT_KEY}:root`);
    expect(scope.message).to.match(/entry #1 does not end with a known scope/);
    expect(scope.message).not.to.include(CLIENT_KEY);
    expect(refusal([{ key: 'has a space in the key' }]).message).to.match(/printable ASCII/);
    expect(refusal(' , ').message).to.match(/no API keys/);
    expect(refusal([]).message).to.match(/no API keys/);
  });
});

describe('auth: key ring', () => {
  afterEach(() => sinon.restore());

  it('finds the principal of a configured key; the id is the given id or a hash prefix, never the key', () => {
    const ring = new KeyRing([
      { id: 'ops', key: ADMIN_KEY, scopes: ['admin'] },
      { key: CLIENT_KEY, scopes: ['client'] },
    ]);
    expect(ring.find(ADMIN_KEY)).to.deep.equal({ id: 'ops', scopes: ['admin', 'client'], anonymous: false });
    const client = ring.find(CLIENT_KEY)!;
    const digest = crypto.createHash('sha256').update(CLIENT_KEY).digest('hex');
    expect(client.id).to.equal(`key-${digest.slice(0, 12)}`);
    expect(client.id).not.to.include(CLIENT_KEY.slice(0, 8));
    expect(client.scopes).to.deep.equal(['client']);
    expect(ring.find(`${CLIENT_KEY}x`)).to.equal(undefined);
    expect(ring.find(CLIENT_KEY.slice(0, -1))).to.equal(undefined);
    expect(ring.find('')).to.equal(undefined);
  });

  it('compares digests with crypto.timingSafeEqual against every key, even after a match', () => {
    const ring = new KeyRing([
      { key: ADMIN_KEY, scopes: ['admin'] },
      { key: CLIENT_KEY, scopes: ['client'] },
      { key: 'third-key-0123456789', scopes: ['client'] },
    ]);
    const compare = sinon.spy(crypto, 'timingSafeEqual');
    expect(ring.find(ADMIN_KEY)?.scopes).to.deep.equal(['admin', 'client']);
    expect(compare.callCount).to.equal(3);
    for (const call of compare.getCalls()) {
      const [a, b] = call.args as [Buffer, Buffer];
      // Fixed-length digests, never the raw key.
      expect(a.length).to.equal(32);
      expect(b.length).to.equal(32);
      expect(b.toString('utf8')).not.to.include(ADMIN_KEY);
    }
    compare.resetHistory();
    expect(ring.find('wrong-key-0123456789abcdef')).to.equal(undefined);
    expect(compare.callCount).to.equal(3);
  });

  it('refuses a repeated key or a repeated id at boot', () => {
    expect(() => new KeyRing([{ key: ADMIN_KEY, scopes: ['admin'] }, { key: ADMIN_KEY, scopes: ['client'] }])).to.throw(BootError, /entry #2 repeats an earlier key/);
    expect(() => new KeyRing([{ id: 'a', key: ADMIN_KEY, scopes: ['admin'] }, { id: 'a', key: CLIENT_KEY, scopes: ['client'] }])).to.throw(BootError, /repeats the id "a"/);
  });
});

describe('auth: where the key comes from', () => {
  const request = (headers: AuthRequest['headers'], query: AuthRequest['query'] = {}, path = '/history'): AuthRequest => ({ method: 'GET', path, headers, query });

  it('reads Authorization: Bearer (any case of the scheme) before X-API-Key', () => {
    expect(presentedKey(request({ authorization: `Bearer ${CLIENT_KEY}` }))).to.equal(CLIENT_KEY);
    expect(presentedKey(request({ authorization: `bearer   ${CLIENT_KEY} ` }))).to.equal(CLIENT_KEY);
    expect(presentedKey(request({ authorization: `Bearer ${CLIENT_KEY}`, 'x-api-key': ADMIN_KEY }))).to.equal(CLIENT_KEY);
    expect(presentedKey(request({ 'x-api-key': ` ${ADMIN_KEY} ` }))).to.equal(ADMIN_KEY);
  });

  it('ignores other schemes, repeated headers and empty values', () => {
    expect(presentedKey(request({ authorization: `Basic ${CLIENT_KEY}` }))).to.equal(undefined);
    expect(presentedKey(request({ authorization: 'Bearer' }))).to.equal(undefined);
    expect(presentedKey(request({ 'x-api-key': [CLIENT_KEY, ADMIN_KEY] }))).to.equal(undefined);
    expect(presentedKey(request({ 'x-api-key': '  ' }))).to.equal(undefined);
    expect(presentedKey(request({}))).to.equal(undefined);
  });

  it('accepts ?api_key= and ?token= only on the websocket path', () => {
    expect(presentedKey(request({}, { api_key: CLIENT_KEY }, '/ws'))).to.equal(CLIENT_KEY);
    expect(presentedKey(request({}, { token: ADMIN_KEY }, '/ws'))).to.equal(ADMIN_KEY);
    expect(presentedKey(request({}, { api_key: CLIENT_KEY }, '/history'))).to.equal(undefined);
    expect(presentedKey(request({}, { token: [CLIENT_KEY, ADMIN_KEY] }, '/ws'))).to.equal(undefined);
    expect(presentedKey(request({ 'x-api-key': ADMIN_KEY }, { api_key: CLIENT_KEY }, '/ws'))).to.equal(ADMIN_KEY);
  });
});
