import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { retryDelayMs } from '../plugins/webhooks/backoff.js';
import { secretBytes, signedHeaders } from '../plugins/webhooks/signing.js';

describe('webhooks: retry schedule and signing', () => {
  it('doubles from firstRetryMs up to maxRetryMs, each delay between half and all of it', () => {
    const low = [1, 2, 3, 4, 5, 6].map((n) => retryDelayMs(n, 5000, 30_000, () => 0));
    const high = [1, 2, 3, 4, 5, 6].map((n) => retryDelayMs(n, 5000, 30_000, () => 1));
    expect(high).to.deep.equal([5000, 10_000, 20_000, 30_000, 30_000, 30_000]);
    expect(low).to.deep.equal([2500, 5000, 10_000, 15_000, 15_000, 15_000]);
    for (let i = 0; i < 100; i++) {
      const delay = retryDelayMs(3, 5000, 3_600_000);
      expect(delay).to.be.within(10_000, 20_000);
    }
    // A very late attempt neither overflows nor passes the cap.
    expect(retryDelayMs(5000, 5000, 3_600_000, () => 1)).to.equal(3_600_000);
  });

  it('accepts whsec_ secrets of 24–64 bytes and refuses others without echoing them', () => {
    const good = `whsec_${randomBytes(32).toString('base64')}`;
    expect(secretBytes(good)).to.have.length(32);
    expect(() => secretBytes(randomBytes(32).toString('base64'))).to.throw(/starts with "whsec_"/);
    expect(() => secretBytes(`whsec_${randomBytes(8).toString('base64')}`)).to.throw(/24 to 64 bytes \(this one 8\)/);
    expect(() => secretBytes(`whsec_${randomBytes(65).toString('base64')}`)).to.throw(/24 to 64 bytes/);
    expect(() => secretBytes('whsec_not base64!')).to.throw(/base64/);
  });

  it('signs so the standardwebhooks reference verifies, and a changed body, id or timestamp does not', () => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const body = JSON.stringify({ type: 'generation.completed', data: { id: 'gen_x' } });
    const headers = signedHeaders(secretBytes(secret), 'msg_gen_x_completed_1', body, Date.now());
    const verifier = new Webhook(secret);
    expect(verifier.verify(body, headers)).to.deep.equal(JSON.parse(body));
    expect(() => verifier.verify(body.replace('gen_x', 'gen_y'), headers)).to.throw();
    expect(() => verifier.verify(body, { ...headers, 'webhook-id': 'msg_other' })).to.throw();
    expect(() => verifier.verify(body, { ...headers, 'webhook-timestamp': String(Number(headers['webhook-timestamp']) - 1) })).to.throw();
    // An attempt signed 10 minutes ago is a replay to the reference verifier.
    const old = signedHeaders(secretBytes(secret), 'msg_gen_x_completed_1', body, Date.now() - 10 * 60 * 1000);
    expect(() => verifier.verify(body, old)).to.throw(/too old/i);
  });
});
