import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';
import { startComfyBridge, type ComfyBridge } from './helpers/comfy-bridge.js';
import { startFakeComfy } from './fake-comfyui/index.js';

const textToImage = {
  '3': { class_type: 'KSampler', inputs: { seed: 5, steps: 20, cfg: 8, model: ['4', 0] }, _meta: { title: 'KSampler', apiinput: 'seed,steps,cfg' } },
  '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'v1-5-pruned-emaonly.safetensors' }, _meta: { title: 'Load Checkpoint' } },
  '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a fox', clip: ['4', 1] }, _meta: { title: 'Prompt', apiinput: 'text' } },
  '9': { class_type: 'SaveImage', inputs: { images: ['3', 0], filename_prefix: 'fox' }, _meta: { title: 'Save Image' } },
};

/** What an app written against the generated types does: each line leans on a type the document must get right. */
const PROGRAM = `
import type { components, operations, paths } from './api.js';

type Frame = components['schemas']['StatusFrame'];
type Body = NonNullable<operations['postGenerateBasedWorkflow']['requestBody']>['content']['application/json'];
type Queued = operations['postGenerateBasedWorkflow']['responses'][200]['content']['application/json'];

export function resultUrls(frame: Frame): string[] {
  // The frame's data is typed: result_urls is a string[], state a union, percent a number.
  const done: boolean = frame.data.state === 'completed' && frame.status === 'closed';
  const percent: number = frame.data.percent;
  return done && percent === 100 ? frame.data.result_urls : [];
}

export function body(prompt: string): Body {
  // The per-workflow body: the alias and its own input keys.
  return { workflow: 'fox', '6/text': prompt, '3/seed': 42 };
}

export function queuedId(answer: Queued): string {
  return 'id' in answer ? answer.id : answer.data.id;
}

export function historyUrls(page: paths['/history']['get']['responses'][200]['content']['application/json']): string[] {
  return page.history.flatMap((item) => item.result_urls ?? []);
}

export function describeError(error: components['schemas']['Error']): string {
  return error.error + ': ' + error.detail;
}

export function socketFrame(frame: components['schemas']['SocketFrame']): number | undefined {
  return frame.status === 'progress' ? frame.seq : undefined;
}

// /free and /interrupt need no body.
export const freeBody: operations['postFree']['requestBody'] = undefined;
export const interruptBody: operations['postInterrupt']['requestBody'] = undefined;
`;

/** The same app with mistakes a precise document catches. */
const WRONG = `
import type { components, operations } from './api.js';
type Frame = components['schemas']['StatusFrame'];
type Body = NonNullable<operations['postGenerateBasedWorkflow']['requestBody']>['content']['application/json'];
export const urls: number[] = ({} as Frame).data.result_urls;
export const state: 'done' = ({} as Frame).data.state;
export const body: Body = { workflow: 'fox', '6/txt': 'typo' };
export const generateBody: operations['postGenerateBasedWorkflow']['requestBody'] = undefined;
`;

function typeCheck(dir: string, file: string): string[] {
  const program = ts.createProgram([join(dir, file)], {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
    lib: ['lib.es2022.d.ts'],
  });
  return ts.getPreEmitDiagnostics(program).map((d) => `${d.file ? `${d.file.fileName.split('/').at(-1)}:${d.file.getLineAndCharacterOfPosition(d.start!).line + 1} ` : ''}${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

describe('openapi: a client generated with openapi-typescript compiles a realistic program', function () {
  this.timeout(60_000);
  let stack: ComfyBridge;
  let dir: string;

  before(async () => {
    stack = await startComfyBridge({ fakes: [await startFakeComfy()], workflows: { fox: textToImage }, plugins: { ws: {}, 'execution-info': {}, history: {}, free: {}, interrupt: {}, openapi: {} } });
    dir = await mkdtemp(join(tmpdir(), 'comfy-bridge-openapi-ts-'));
    const document = (await (await fetch(`${stack.bridge.url}/openapi.json`)).json()) as object;
    await writeFile(join(dir, 'api.ts'), astToString(await openapiTS(document as never)));
    await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    await writeFile(join(dir, 'program.ts'), PROGRAM);
    await writeFile(join(dir, 'wrong.ts'), WRONG);
  });
  after(async () => {
    await stack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('type-checks the program without an error', () => {
    expect(typeCheck(dir, 'program.ts')).to.deep.equal([]);
  });

  it('refuses the same program with wrong types, a wrong input key and a missing body', () => {
    const errors = typeCheck(dir, 'wrong.ts');
    expect(errors.map((error) => error.split(' ')[0])).to.deep.equal(['wrong.ts:5', 'wrong.ts:6', 'wrong.ts:7', 'wrong.ts:8']);
  });
});
