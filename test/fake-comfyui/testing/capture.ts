import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Reading the real ComfyUI captures, kept in the repository as test fixtures (test/fixtures/comfyui-protocol). */

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const CAPTURE_DIR = path.resolve(REPO, 'test/fixtures/comfyui-protocol');

export interface CapturedRequest {
  method: string;
  url: string;
  path: string;
  label?: string;
  body_json?: unknown;
  body_raw?: string;
  multipart_fields?: { name: string; filename?: string; content_type?: string; value: string }[];
  headers_sent: Record<string, string>;
}

export interface CapturedResponse {
  status: number;
  headers: Record<string, string>;
  body_raw?: string;
  body_json?: unknown;
  body_length?: number;
  body_image?: { format: string; size: [number, number] };
}

export type CapturedFrame = { frame: 'text'; raw: string; json: { type: string; data: unknown } } | { frame: 'binary'; binary: { length: number; event_type_u32be: number; decoded: { node_id: string; text: string } } };

export type TimelineEvent =
  | { kind: 'ws_open'; client_id: string; url: string }
  | ({ kind: 'ws_recv'; client_id: string } & CapturedFrame)
  | { kind: 'ws_send'; client_id: string; raw: string }
  | { kind: 'ws_closed'; client_id: string }
  | { kind: 'note'; text: string }
  | { kind: 'http'; request: CapturedRequest; response: CapturedResponse };

export interface Capture {
  case: string;
  timeline: TimelineEvent[];
  ws_messages?: Record<string, CapturedFrame[]>;
}

export function loadCapture(name: string): Capture {
  const raw = JSON.parse(readFileSync(path.join(CAPTURE_DIR, `${name}.json`), 'utf8')) as Capture & { exchange?: { request: CapturedRequest; response: CapturedResponse } };
  if (!raw.timeline && raw.exchange) raw.timeline = [{ kind: 'http', ...raw.exchange }];
  return raw;
}
