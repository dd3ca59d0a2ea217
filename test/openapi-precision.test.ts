import { expect } from 'chai';
import { Validator } from '@seriousme/openapi-schema-validator';
import { createAjv } from '../core/config/ajv.js';
import history from '../plugins/history/index.js';
import openapi from '../plugins/openapi/index.js';
import free from '../plugins/free/index.js';
import interrupt from '../plugins/interrupt/index.js';
import util from '../plugins/util/index.js';
import metrics from '../plugins/metrics/index.js';
import { encodePng } from './fake-comfyui/png.js';
import { startStack, type Stack } from './e2e-support.js';
import { FrameReader, wsUrl } from './ws-client.js';

type Operation = {
  tags: string[];
  requestBody?: { required: boolean };
  responses: Record<string, { content?: Record<string, { schema?: object; example?: unknown }> }>;
};
type Document = { tags: { name: string }[]; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, object> } };

/** Every plugin a client or an operator meets, in front of the fake ComfyUI. */
const startFullStack = (): Promise<Stack> => startStack({ extraPlugins: [history, openapi, free, interrupt, util, metrics] as never[] });

/**
 * The document is only as good as it is precise: each JSON answer the server really gives must
 * validate against the schema the document declares for its route and status (closed schemas, so a
 * key the document forgot fails too), and every example must validate against its own schema.
 */
describe('openapi precision: the document describes the real answers', function () {
  this.timeout(30_000);
  let stack: Stack;
  let base: string;
  let document: Document;
  const ajv = createAjv();

  before(async () => {
    stack = await startFullStack();
    base = stack.bridge.url;
    document = (await (await fetch(`${base}/openapi.json`)).json()) as Document;
    // $refs point into the document itself: give ajv the document under a name and point them there.
    ajv.addSchema({ components: document.components }, 'openapi.json');
  });
  after(() => stack?.stop());

  const schemaOf = (path: string, method: string, status: string, type = 'application/json'): object => {
    const media = document.paths[path]?.[method]?.responses[status]?.content?.[type];
    expect(media?.schema, `${method.toUpperCase()} ${path} ${status} declares a ${type} schema`).to.be.an('object');
    return JSON.parse(JSON.stringify(media!.schema).replaceAll('"#/components/', '"openapi.json#/components/')) as object;
  };

  function check(path: string, method: string, status: number, body: unknown): void {
    const validate = ajv.compile(schemaOf(path, method, String(status)));
    expect(validate(body), `${method.toUpperCase()} ${path} ${status}: ${JSON.stringify(validate.errors)} in ${JSON.stringify(body)}`).to.equal(true);
  }

  async function call(path: string, method: 'get' | 'post', url: string, init: RequestInit = {}): Promise<unknown> {
    const response = await fetch(`${base}${url}`, { ...init, method: method.toUpperCase() });
    const body = (await response.json()) as unknown;
    check(path, method, response.status, body);
    return body;
  }

  it('is a valid OpenAPI 3.1 document with its tags in reading order', async () => {
    const result = await new Validator().validate(document as never);
    expect(result.errors ?? []).to.deep.equal([]);
    expect(document.tags.map((tag) => tag.name)).to.deep.equal(['workflows', 'uploads', 'generations', 'results', 'history', 'operations', 'documentation']);
    const used = Object.values(document.paths).flatMap((operations) => Object.values(operations).flatMap((op) => op.tags));
    expect([...new Set(used)].every((tag) => document.tags.some((t) => t.name === tag))).to.equal(true);
  });

  it('gives every JSON or text answer an example that validates against its schema', () => {
    let examples = 0;
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        for (const [status, response] of Object.entries(operation.responses)) {
          for (const [type, media] of Object.entries(response.content ?? {})) {
            const documented = type === 'application/json' || type.startsWith('text/plain');
            if (!documented || !/^[12]/.test(status)) continue;
            expect(media, `${method.toUpperCase()} ${path} ${status} has an example`).to.have.property('example');
            const validate = ajv.compile(schemaOf(path, method, status, type));
            expect(validate(media.example), `${method.toUpperCase()} ${path} ${status} example: ${JSON.stringify(validate.errors)}`).to.equal(true);
            examples++;
          }
        }
      }
    }
    expect(examples).to.be.at.least(15);
  });

  it('marks a body required only where the server needs one', () => {
    expect(document.paths['/free']!.post!.requestBody!.required).to.equal(false);
    expect(document.paths['/interrupt']!.post!.requestBody!.required).to.equal(false);
    expect(document.paths['/generate-based-workflow']!.post!.requestBody!.required).to.equal(true);
    expect(document.paths['/upload']!.post!.requestBody!.required).to.equal(true);
  });

  it('names the shared shapes, so generated clients get named types', () => {
    expect(document.components.schemas).to.include.keys('Error', 'StatusFrame', 'FrameData', 'SocketFrame', 'HistoryItem', 'Queued', 'WorkflowInput');
    expect(document.paths['/execution-info']!.get!.responses['200']!.content!['application/json']!.schema).to.deep.equal({ $ref: '#/components/schemas/StatusFrame' });
  });

  it('every real answer of a whole client flow matches its documented schema, frames and errors included', async () => {
    stack.fake.setNodeDuration('TestSleep', 30);
    await call('/workflow-list', 'get', '/workflow-list');
    await call('/workflow-info', 'get', '/workflow-info?workflow=text-to-image');
    await call('/workflow-info', 'get', '/workflow-info?workflow=sleepy');
    const form = new FormData();
    form.append('upload_0', new Blob([encodePng(4, 3, Buffer.alloc(36, 9))], { type: 'image/png' }), 'a.png');
    await call('/upload', 'post', '/upload?clientId=doc-1', { body: form });

    const socket = await FrameReader.open(wsUrl(base, '?clientId=doc-1'));
    const json = { 'content-type': 'application/json' };
    await call('/generate-based-workflow', 'post', '/generate-based-workflow?clientId=doc-1', { headers: json, body: JSON.stringify({ workflow: 'sleepy' }) });
    await socket.next((frame) => frame.status === 'closed', 10_000);
    await socket.closed;
    const frameSchema = ajv.compile({ $ref: 'openapi.json#/components/schemas/SocketFrame' });
    expect(socket.frames.length).to.be.greaterThan(3);
    for (const frame of socket.frames) expect(frameSchema(frame), `${JSON.stringify(frameSchema.errors)} in ${JSON.stringify(frame)}`).to.equal(true);

    await call('/generate-based-workflow', 'post', '/generate-based-workflow?clientId=doc-1', { headers: json, body: JSON.stringify({ workflow: 'sleepy', wait: true }) });
    await call('/generate-based-workflow', 'post', '/generate-based-workflow?clientId=doc-2', { headers: json, body: JSON.stringify({ workflow: 'failing', wait: true }) });
    await call('/execution-info', 'get', '/execution-info?clientId=doc-1');
    await call('/execution-info', 'get', '/execution-info?clientId=doc-2');
    await call('/history', 'get', '/history?limit=10');
    await call('/generation-count', 'get', '/generation-count');
    await call('/interrupt', 'post', '/interrupt?clientId=doc-1');
    await call('/free', 'post', '/free');
    await call('/health', 'get', '/health');
    await call('/ready', 'get', '/ready');

    // Errors: the route's own statuses and the standard ones all document the {"error","detail"} body.
    await call('/workflow-info', 'get', '/workflow-info?workflow=nope');
    await call('/generate-based-workflow', 'post', '/generate-based-workflow?clientId=doc-1', { headers: json, body: JSON.stringify({ workflow: 'sleepy', '1/width': 'wide' }) });
    await call('/execution-info', 'get', '/execution-info');
  });
});
