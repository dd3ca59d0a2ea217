import { expect } from 'chai';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { isLoopback, warnIfExposed } from '../plugins/ws/exposure.js';

describe('ws: the start log warns when clientIds are the only protection', () => {
  function capture() {
    const lines: { level: number; msg: string }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { level: number; msg: string });
        done();
      },
    });
    return { lines, log: pino({ level: 'info' }, sink) };
  }

  it('knows loopback hosts from the others', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) expect(isLoopback(host), host).to.equal(true);
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'bridge.example.com', '10.0.0.1']) expect(isLoopback(host), host).to.equal(false);
  });

  it('warns loudly with auth off on a non-loopback host, and says nothing otherwise', async () => {
    const exposed = capture();
    warnIfExposed('0.0.0.0', false, exposed.log);
    const quiet = capture();
    warnIfExposed('127.0.0.1', false, quiet.log);
    warnIfExposed('0.0.0.0', true, quiet.log);
    await new Promise((resolve) => setImmediate(resolve));
    expect(exposed.lines).to.have.length(1);
    expect(exposed.lines[0]!.level).to.equal(40);
    expect(exposed.lines[0]!.msg).to.match(/^AUTH IS OFF and the server listens on 0\.0\.0\.0: anyone who can reach it and learns a clientId can watch its generations \(\/ws\) and interrupt them\./);
    expect(quiet.lines).to.deep.equal([]);
  });
});
