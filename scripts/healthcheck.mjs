#!/usr/bin/env node
// The container's HEALTHCHECK: healthy when GET /ready answers 200 (ComfyUI reachable, storage open) within 4 s.
const port = process.env.COMFY_BRIDGE_PORT || '8288';
const url = process.env.COMFY_BRIDGE_HEALTHCHECK_URL || `http://127.0.0.1:${port}/ready`;
try {
  const response = await fetch(url, { signal: AbortSignal.timeout(4000) });
  if (response.status !== 200) console.error(`healthcheck: ${url} answered ${response.status}`);
  process.exit(response.status === 200 ? 0 : 1);
} catch (error) {
  console.error(`healthcheck: ${url}: ${error.message}`);
  process.exit(1);
}
