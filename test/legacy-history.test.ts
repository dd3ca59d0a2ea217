import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { imageSize } from 'image-size';
import history from '../plugins/history/index.js';
import legacyHistory from '../plugins/legacy-history/index.js';
import { decodePng, encodePng } from './fake-comfyui/png.js';
import { startStack, type Stack } from './e2e-support.js';
import { until } from './helpers/until.js';
import { FrameReader, wsUrl, type Frame } from './ws-client.js';

/**
 * The original bridge's client scripts (MiddleKD/Bridge-server-for-ComfyUI client/ws_example.py and
 * rest_example.py), request for request: the same paths and query strings, the same headers (aiohttp
 * and requests send `Content-Type: application/json` where the scripts set it), the same upload field
 * names, and the result bundle read as aiohttp's MultipartReader reads it — parts in order, each saved
 * under its part filename. Only the scripts' `input()` answers and their fixed sleeps are left out.
 */
const JSON_HEADERS = { 'Content-Type': 'application/json' };

interface SavedFile {
  field: string;
  filename: string;
  contentType: string;
  bytes: Buffer;
}

describe('legacy-history: the original bridge’s client scripts run unchanged', function () {
  this.timeout(20_000);
  let stack: Stack | undefined;
  let base: string;

  beforeEach(async () => {
    stack = await startStack({ extraPlugins: [history as never, legacyHistory as never] });
    base = stack.bridge.url;
  });
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  /** get_workflow_info / get_request("workflow-info", …) */
  async function workflowInfo(workflow: string, headers: Record<string, string> = {}): Promise<Record<string, { type: string; title: string; default: unknown }>> {
    const response = await fetch(`${base}/workflow-info?workflow=${workflow}`, { headers });
    expect(response.status).to.equal(200);
    return (await response.json()) as Record<string, { type: string; title: string; default: unknown }>;
  }

  /** upload_file: one multipart part per file, fields upload_0…, the file's mime type and base name. */
  async function uploadFile(clientId: string, files: { path: string; bytes: Buffer }[]): Promise<Record<string, string>> {
    const form = new FormData();
    files.forEach((file, idx) => form.append(`upload_${idx}`, new Blob([file.bytes], { type: 'image/png' }), file.path.split('/').at(-1)));
    const response = await fetch(`${base}/upload?clientId=${clientId}`, { method: 'POST', body: form });
    expect(response.status).to.equal(200);
    const data = (await response.json()) as Record<string, string>;
    return Object.fromEntries(Object.entries(data).map(([key, value]) => [files[Number(key.slice('upload_'.length))]!.path, value]));
  }

  /** The scripts' input loop with fixed answers: ints parsed, file paths uploaded, the rest as text. */
  async function userInput(clientId: string, workflow: string, answers: Record<string, string>, headers: Record<string, string>, files: Map<string, Buffer>) {
    const input: Record<string, unknown> = { workflow };
    for (const [key, info] of Object.entries(await workflowInfo(workflow, headers))) {
      const typed = answers[key] ?? String(info.default);
      if (info.type === 'int') input[key] = Number.parseInt(typed, 10);
      else if (info.type === 'float') input[key] = Number.parseFloat(typed);
      else if (files.has(typed)) input[key] = (await uploadFile(clientId, [{ path: typed, bytes: files.get(typed)! }]))[typed];
      else input[key] = typed;
    }
    return input;
  }

  /** get_history(client_id, download=True): on 200, every part of the multipart answer is saved. */
  async function getHistory(clientId: string): Promise<{ status: number; saved: SavedFile[] }> {
    const response = await fetch(`${base}/history?clientId=${clientId}`);
    const saved: SavedFile[] = [];
    if (response.status === 200) {
      const form = await response.formData();
      for (const [field, part] of form) {
        expect(part, `part ${field} has a filename`).to.be.instanceOf(File);
        const file = part as File;
        saved.push({ field, filename: file.name, contentType: file.type, bytes: Buffer.from(await file.arrayBuffer()) });
      }
    }
    return { status: response.status, saved };
  }

  it('ws_example.py: info → upload → socket → generate → frames until closed → GET /history bundle', async () => {
    const clientId = randomUUID();
    const image = encodePng(5, 4, Buffer.alloc(5 * 4 * 3, 0x40));
    const data = await userInput(clientId, 'invert', { '10/image': '/home/me/photo.png' }, {}, new Map([['/home/me/photo.png', image]]));
    expect(data['10/image']).to.be.a('string').and.not.equal('/home/me/photo.png');

    // run_client: open the socket, start tracing, then send the request.
    const ws = await FrameReader.open(wsUrl(base, `?clientId=${clientId}`));
    const post = await fetch(`${base}/generate-based-workflow?clientId=${clientId}`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(data) });
    expect(post.status).to.equal(200);
    const closed: Frame = await ws.next((frame) => frame.status === 'closed', 10_000);
    expect(closed.details).to.equal('Execution is done');
    ws.close();

    const { status, saved } = await getHistory(clientId);
    expect(status).to.equal(200);
    expect(saved).to.have.length(1);
    expect(saved[0]).to.include({ field: 'result_0', contentType: 'image/png' });
    expect(saved[0]!.filename).to.match(/^invert.*\.png$/);
    const png = decodePng(saved[0]!.bytes);
    expect([png.width, png.height]).to.deep.equal([5, 4]);
    expect([...png.rgb.subarray(0, 3)]).to.deep.equal([0xbf, 0xbf, 0xbf]);
  });

  it('rest_example.py: info → generate → poll /execution-info until closed → GET /history bundle', async () => {
    const clientId = randomUUID();
    const data = await userInput(clientId, 'sleepy', { '1/width': '24', '1/height': '12' }, JSON_HEADERS, new Map());
    expect(data).to.deep.equal({ workflow: 'sleepy', '1/width': 24, '1/height': 12, '1/color': 255 });

    const post = await fetch(`${base}/generate-based-workflow?clientId=${clientId}`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(data) });
    expect(post.status).to.equal(200);
    // tracing(ci): get_request("execution-info", {"clientId": ci}) until status == "closed"; every answer is a 200 JSON frame.
    await until(async () => {
      const response = await fetch(`${base}/execution-info?clientId=${clientId}`, { headers: JSON_HEADERS });
      expect(response.status).to.equal(200);
      return ((await response.json()) as { status: string }).status === 'closed';
    }, 'execution-info to say closed', 10_000);

    const { status, saved } = await getHistory(clientId);
    expect(status).to.equal(200);
    expect(saved.map((file) => file.field)).to.deep.equal(['result_0']);
    expect(imageSize(saved[0]!.bytes)).to.include({ width: 24, height: 12, type: 'png' });
  });

  it('answers 204 for a clientId with no generation and 409 while the latest has no results; other queries stay JSON', async () => {
    const unknown = await fetch(`${base}/history?clientId=${randomUUID()}`);
    expect(unknown.status).to.equal(204);

    const clientId = randomUUID();
    const failed = await fetch(`${base}/generate-based-workflow?clientId=${clientId}`, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify({ workflow: 'failing', wait: true }),
    });
    expect(((await failed.json()) as { status: string }).status).to.equal('error');
    const refused = await fetch(`${base}/history?clientId=${clientId}`);
    expect(refused.status).to.equal(409);
    expect(await refused.json()).to.include({ error: 'conflict' });

    // Any other parameter: the JSON page of SPEC §2.5, untouched.
    const page = await fetch(`${base}/history?clientId=${clientId}&limit=5`);
    expect(page.status).to.equal(200);
    expect(page.headers.get('content-type')).to.match(/^application\/json/);
    const body = (await page.json()) as { history: { status: string }[]; total_count: number };
    expect(body.total_count).to.equal(1);
    expect(body.history[0]!.status).to.equal('failed');
    const all = await fetch(`${base}/history`);
    expect(all.headers.get('content-type')).to.match(/^application\/json/);
  });
});
