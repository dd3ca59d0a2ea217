import { frameDataEncoders, writeAscii, writeBytes, writeJsonString, writeNumber, type FrameDataEncoder } from '../../contracts/client-frame.js';
import type { Generation } from '../../contracts/generation.js';

/**
 * How a progress frame's `data` (buildFrame, a generation not yet final) is written as JSON without
 * JSON.stringify: a template per generation, in which the fields that do not move while it runs are
 * encoded once and the four that do (percent, node, step, max_steps) each time. Exactly
 * JSON.stringify(data): the same keys in the same order (buildFrame's), each value encoded as
 * JSON.stringify encodes it. The machine registers it for each progress frame (frameDataEncoders); the
 * ws hub encodes with it, so nothing is encoded, or kept, for a client with no socket open.
 */
export class DataTemplate implements FrameDataEncoder {
  /** `{"id":…,"workflow":…,"state":…,"position":…,"percent":` */
  readonly head: string;
  /** `,"result_urls":[],"error_message":null,"queued_at":…,"started_at":…,"finished_at":…}` */
  readonly tail: string;

  private constructor(
    readonly id: string,
    readonly workflow: string,
    readonly state: string,
    readonly position: number | null,
    readonly createdAt: string,
    readonly startedAt: string | null,
    readonly finishedAt: string | null,
  ) {
    this.head = `{"id":${json(id)},"workflow":${json(workflow)},"state":${json(state)},"position":${json(position)},"percent":`;
    this.tail = `,"result_urls":[],"error_message":null,"queued_at":${json(createdAt)},"started_at":${json(startedAt)},"finished_at":${json(finishedAt)}}`;
  }

  /** The template of gen's progress frames; undefined when a field is missing (JSON.stringify would leave its key out). */
  static of(gen: Generation): DataTemplate | undefined {
    const { id, workflow, state, position, createdAt, startedAt, finishedAt } = gen;
    if ([id, workflow, state, position, createdAt, startedAt, finishedAt].includes(undefined as never)) return undefined;
    return new DataTemplate(id, workflow, state, position, createdAt, startedAt, finishedAt);
  }

  /** Whether it still writes gen's fixed fields. */
  fits(gen: Generation): boolean {
    return (
      this.id === gen.id &&
      this.workflow === gen.workflow &&
      this.state === gen.state &&
      this.position === gen.position &&
      this.createdAt === gen.createdAt &&
      this.startedAt === gen.startedAt &&
      this.finishedAt === gen.finishedAt
    );
  }

  encode(data: Record<string, unknown>): string {
    return `${this.head}${json(data.percent)},"node":${json(data.node)},"step":${json(data.step)},"max_steps":${json(data.max_steps)}${this.tail}`;
  }

  /** head and tail as UTF-8, made at the first writeInto (a generation whose frames nobody receives never needs them). */
  #bytes: { head: Buffer; tail: Buffer } | undefined;

  /**
   * encode(data)'s bytes, written piece by piece: head and tail copied as bytes, the four moving values
   * written as ASCII. No string of the whole is built, so none is flattened and encoded (the cost of
   * `encode` + Buffer#write on the fan-out bench was mostly that).
   */
  writeInto(data: Record<string, unknown>, target: Uint8Array, offset: number): number {
    const bytes = (this.#bytes ??= { head: Buffer.from(this.head), tail: Buffer.from(this.tail) });
    let at = writeValue(target, writeBytes(target, offset, bytes.head), data.percent);
    at = writeValue(target, writeAscii(target, at, ',"node":'), data.node);
    at = writeValue(target, writeAscii(target, at, ',"step":'), data.step);
    at = writeValue(target, writeAscii(target, at, ',"max_steps":'), data.max_steps);
    return writeBytes(target, at, bytes.tail);
  }
}

/**
 * json(value) written as bytes (writeInto), when it is ASCII; else -1. A string with nothing to escape is
 * written as it is, an integer digit by digit, a percent from its text kept per hundredth: no string is made
 * per frame for any of the four moving values.
 */
function writeValue(target: Uint8Array, offset: number, value: unknown): number {
  if (offset < 0) return -1;
  if (typeof value === 'number' && Number.isFinite(value)) return Number.isInteger(value) ? writeNumber(target, offset, value) : writeAscii(target, offset, numberText(value));
  const at = typeof value === 'string' ? writeJsonString(target, offset, value) : -1;
  return at >= 0 ? at : writeAscii(target, offset, json(value));
}

/**
 * `${n}`, kept per hundredth for the numbers a percent takes (two decimals, 0 to 100), each with the very
 * number it was made from (another number of the same hundredth is made again): a double's shortest text
 * costs more than the rest of the value's bytes.
 */
function numberText(n: number): string {
  const slot = Math.round(n * 100);
  if (!(slot >= 0 && slot <= 10_000)) return `${n}`;
  if (textOf[slot] !== n) {
    textOf[slot] = n;
    texts[slot] = `${n}`;
  }
  return texts[slot]!;
}

/** numberText's strings by hundredth, and the number each was made from. */
const textOf = new Float64Array(10_001).fill(NaN);
const texts: string[] = new Array<string>(10_001).fill('');

/**
 * Registers the template for `data` (buildFrame's data of `gen`, not final), with the hub; returns
 * the template to pass next time (a new one when a fixed field moved). undefined, and nothing
 * registered, for a shape it does not know (a field missing from an old row): the hub then
 * encodes `data` itself.
 */
export function encodeProgressData(gen: Generation, data: Record<string, unknown>, template: DataTemplate | undefined): DataTemplate | undefined {
  const t = template?.fits(gen) ? template : DataTemplate.of(gen);
  if (!t || gen.percent === undefined || gen.node === undefined || gen.step === undefined || gen.maxSteps === undefined) return undefined;
  if (data.percent !== gen.percent || data.node !== gen.node || data.step !== gen.step || data.max_steps !== gen.maxSteps) return undefined;
  if (!Array.isArray(data.result_urls) || data.result_urls.length !== 0 || data.error_message !== null) return undefined;
  frameDataEncoders.set(data, t);
  return t;
}

/** One value as JSON.stringify writes it inside an object (never undefined here: checked before). */
function json(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'number') return Number.isFinite(value) ? `${value}` : 'null';
  return JSON.stringify(value);
}
