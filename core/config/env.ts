import { BootError } from '../errors.js';

/**
 * Maps the COMFY_BRIDGE_* environment variables of SPEC §6 onto config paths. Values are coerced here
 * (and rejected with a clear message) so "PORT=abc" never turns into NaN further down.
 */
type Coerce = (raw: string, variable: string) => unknown;

const text: Coerce = (raw) => raw;
const integer: Coerce = (raw, variable) => {
  if (!/^\d+$/.test(raw.trim())) throw new BootError(`${variable}="${raw}" is not a whole number`);
  return Number(raw.trim());
};
const list: Coerce = (raw) =>
  raw
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
const backends: Coerce = (raw) => (list(raw, '') as string[]).map((url) => ({ url }));

export const ENV_VARIABLES: readonly { variable: string; path: string[]; coerce: Coerce; description: string }[] = [
  { variable: 'COMFY_BRIDGE_HOST', path: ['server', 'host'], coerce: text, description: 'Interface to listen on.' },
  { variable: 'COMFY_BRIDGE_PORT', path: ['server', 'port'], coerce: integer, description: 'TCP port; 0 picks a free one.' },
  { variable: 'COMFY_BRIDGE_PUBLIC_URL', path: ['server', 'publicUrl'], coerce: text, description: 'Base of result URLs.' },
  {
    variable: 'COMFY_BRIDGE_COMFYUI_URLS',
    path: ['plugins', 'comfyui', 'backends'],
    coerce: backends,
    description: 'Comma-separated ComfyUI base URLs.',
  },
  { variable: 'COMFY_BRIDGE_WORKFLOWS_DIR', path: ['plugins', 'workflows', 'dir'], coerce: text, description: 'Workflow folder.' },
  { variable: 'COMFY_BRIDGE_DATA_DIR', path: ['dataDir'], coerce: text, description: 'Database, uploads and results.' },
  { variable: 'COMFY_BRIDGE_LOG_LEVEL', path: ['log', 'level'], coerce: text, description: 'pino log level.' },
  {
    variable: 'COMFY_BRIDGE_API_KEYS',
    path: ['plugins', 'auth', 'keys'],
    coerce: text,
    description: 'Turns auth on: "key1:admin,key2:client" (a key without a scope is client).',
  },
];

/** The config overlay the environment asks for (only variables that are set and non-empty). */
export function configFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const overlay: Record<string, unknown> = {};
  for (const { variable, path, coerce } of ENV_VARIABLES) {
    const raw = env[variable];
    if (raw === undefined || raw === '') continue;
    setPath(overlay, path, coerce(raw, variable));
  }
  return overlay;
}

export function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}
