import { expect } from 'chai';
import { frameDataEncoders, type FrameDataEncoder } from '../contracts/client-frame.js';

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
