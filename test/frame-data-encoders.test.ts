import { expect } from 'chai';
import { frameDataEncoders, writeAscii, writeBytes, writeJsonString, writeNumber, type FrameDataEncoder } from '../contracts/client-frame.js';

/**
 * The registry of frame data encoders keeps its last entry in a slot (the hot path registers and takes
 * out one entry per frame in one synchronous call) and the rest in a WeakMap: it must answer like a
 * WeakMap whatever the order of registrations and removals.
 */
describe('frame data encoders (a slot, then a WeakMap)', () => {
  const encoder = (name: string): FrameDataEncoder => ({ encode: () => name });

  it('answers for every registered data, the last and the earlier ones, until each is taken out', () => {
    const datas = Array.from({ length: 4 }, (_, i) => ({ i }));
    const encoders = datas.map((_, i) => encoder(`e${i}`));
    datas.forEach((data, i) => frameDataEncoders.set(data, encoders[i]!));
    datas.forEach((data, i) => expect(frameDataEncoders.get(data)).to.equal(encoders[i]));
    expect(frameDataEncoders.has({ i: 0 }), 'another object with the same fields').to.equal(false);

    // Taken out in another order than registered: the last (in the slot) first, then an earlier one.
    expect(frameDataEncoders.delete(datas[3]!)).to.equal(true);
    expect(frameDataEncoders.has(datas[3]!)).to.equal(false);
    expect(frameDataEncoders.get(datas[3]!)).to.equal(undefined);
    expect(frameDataEncoders.delete(datas[1]!)).to.equal(true);
    expect(frameDataEncoders.delete(datas[1]!), 'twice').to.equal(false);
    expect([0, 1, 2].map((i) => frameDataEncoders.has(datas[i]!))).to.deep.equal([true, false, true]);

    // A new registration after the slot was emptied, and the earlier ones still there.
    const late = { late: true };
    frameDataEncoders.set(late, encoders[3]!);
    expect(frameDataEncoders.get(late)).to.equal(encoders[3]);
    expect(frameDataEncoders.get(datas[0]!)).to.equal(encoders[0]);
    expect(frameDataEncoders.get(datas[2]!)).to.equal(encoders[2]);
    for (const data of [late, datas[0]!, datas[2]!]) expect(frameDataEncoders.delete(data)).to.equal(true);
    expect([late, ...datas].some((data) => frameDataEncoders.has(data))).to.equal(false);
  });

  it('replaces the encoder of the data in the slot when it is registered again', () => {
    const data = {};
    frameDataEncoders.set(data, encoder('first'));
    const second = encoder('second');
    frameDataEncoders.set(data, second);
    expect(frameDataEncoders.get(data)).to.equal(second);
    frameDataEncoders.delete(data);
    expect(frameDataEncoders.has(data)).to.equal(false);
  });
});

describe('writing JSON pieces as bytes (writeAscii, writeJsonString, writeBytes)', () => {
  const at = (write: (target: Uint8Array) => number, size = 64) => {
    const target = new Uint8Array(size).fill(0x2a);
    const end = write(target);
    return end < 0 ? end : Buffer.from(target.subarray(2, end)).toString('latin1');
  };

  it('writes a string in quotes only when JSON.stringify would write it so', () => {
    for (const text of ['progress', '12.50%', '', ' ~!#$%&()']) expect(at((t) => writeJsonString(t, 2, text))).to.equal(JSON.stringify(text));
    for (const text of ['a"b', 'a\\b', 'line\n', '\u0001', 'é', '\u007f', '😀']) expect(at((t) => writeJsonString(t, 2, text)), JSON.stringify(text)).to.equal(-1);
  });

  it('writes ASCII as it is, and refuses what is not ASCII or does not fit', () => {
    expect(at((t) => writeAscii(t, 2, '{"seq":12}'))).to.equal('{"seq":12}');
    expect(at((t) => writeAscii(t, 2, 'é'))).to.equal(-1);
    expect(at((t) => writeAscii(t, 2, 'x'.repeat(10)), 12)).to.equal('x'.repeat(10));
    expect(at((t) => writeAscii(t, 2, 'x'.repeat(11)), 12)).to.equal(-1);
    expect(at((t) => writeJsonString(t, 2, 'x'.repeat(8)), 12)).to.equal(`"${'x'.repeat(8)}"`);
    expect(at((t) => writeJsonString(t, 2, 'x'.repeat(9)), 12)).to.equal(-1);
    expect(at((t) => writeBytes(t, 2, Buffer.from('0123456789')), 12)).to.equal('0123456789');
    expect(at((t) => writeBytes(t, 2, Buffer.from('0123456789!')), 12)).to.equal(-1);
  });

  it('writes a number as JSON.stringify does, and refuses one that does not fit', () => {
    for (const n of [0, -0, 7, 10, 99, 100, 1234567, 2 ** 53 - 1, 2 ** 53, 1e21, -1, -120, 0.5, 12.34, 1e-7]) expect(at((t) => writeNumber(t, 2, n)), String(n)).to.equal(JSON.stringify(n));
    expect(at((t) => writeNumber(t, 2, 1234567890), 12)).to.equal('1234567890');
    expect(at((t) => writeNumber(t, 2, 12345678901), 12)).to.equal(-1);
    expect(writeNumber(new Uint8Array(8), -1, 5)).to.equal(-1);
  });

  it('passes -1 on: nothing is written after a piece that failed', () => {
    const target = new Uint8Array(16).fill(0x2a);
    expect(writeBytes(target, writeJsonString(target, writeAscii(target, -1, 'a'), 'b'), Buffer.from('c'))).to.equal(-1);
    expect([...target].every((byte) => byte === 0x2a)).to.equal(true);
  });
});
