/**
 * The same flow with fetch and a WebSocket only, with what the SDK adds written out: error bodies,
 * reconnecting with `since=` after a dropped socket, and skipping replayed frames (docs/client.md).
 */
import { WebSocket } from 'ws';

interface Frame {
  status: string;
  details: string;
  seq?: number;
  data?: { id: string; state?: string; percent?: number; result_urls?: string[] };
}

async function call<T>(url: string, init?: RequestInit): Promise<T> {
  const response = await fetch(url, init);
  const body = (await response.json()) as T & { error?: string; detail?: string };
  if (!response.ok) throw new Error(`${response.status} ${body.error}: ${body.detail}`);
  return body;
}

function follow(wsUrl: string, since: number | undefined, onFrame: (frame: Frame) => void): Promise<number> {
  return new Promise((resolve) => {
    const socket = new WebSocket(since === undefined ? wsUrl : `${wsUrl}&since=${since}`);
    socket.on('message', (data) => onFrame(JSON.parse(data.toString()) as Frame));
    socket.on('error', () => undefined);
    socket.on('close', (code) => resolve(code));
  });
}

export async function invertWithFetch(baseUrl: string, photo: Blob, onProgress: (percent: number) => void): Promise<Blob> {
  const clientId = crypto.randomUUID();
  const form = new FormData();
  form.append('upload_0', photo, 'photo.png');
  const { upload_0: image } = await call<Record<string, string>>(`${baseUrl}/upload?clientId=${clientId}`, { method: 'POST', body: form });
  const { id } = await call<{ id: string }>(`${baseUrl}/generate-based-workflow?clientId=${clientId}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ workflow: 'invert-image', '10/image': image }),
  });
  let lastSeq: number | undefined;
  let final: Frame | undefined;
  for (let attempt = 0; !final && attempt < 10; attempt++) {
    const code = await follow(`${baseUrl.replace(/^http/, 'ws')}/ws?clientId=${clientId}`, lastSeq, (frame) => {
      if (frame.seq === undefined || (lastSeq !== undefined && frame.seq <= lastSeq)) return;
      lastSeq = frame.seq;
      if (frame.data?.id !== id) return;
      if (frame.data.percent !== undefined) onProgress(frame.data.percent);
      if (frame.status === 'closed' || frame.status === 'error') final = frame;
    });
    if (!final && code === 1000) {
      const now = await call<Frame>(`${baseUrl}/execution-info?id=${id}`);
      if (now.status !== 'progress') final = now;
    }
    if (!final) await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** attempt));
  }
  if (final?.status !== 'closed' || final.data?.state !== 'completed') throw new Error(`generation ${id} ended: ${final?.details}`);
  const result = await fetch(final.data.result_urls![0]!);
  if (!result.ok) throw new Error(`${result.status} while downloading the result`);
  return result.blob();
}
