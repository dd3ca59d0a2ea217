/** The document's introduction: the parts of the API that OpenAPI cannot express (the websocket). */
export const DESCRIPTION = `A simple, safe API in front of one or many ComfyUI servers.

Every error is \`{"error": "<code>", "detail": "<sentence>"}\` with a 4xx/5xx status.

## WebSocket protocol

Open \`GET /ws?clientId=X\` as a websocket (upgrade), one socket per client context; pass the same \`clientId\` when you upload and generate. Every text frame is
\`{"status", "details", "data"?, "seq"?}\`:

| status | when | details |
|---|---|---|
| \`connected\` | right after the handshake | \`server connected\` |
| \`listening\` | heartbeat while the socket is open | \`server is listening\` |
| \`progress\` | the generation moved (queued, started, node ran or was cached, sampler step) | overall percent, e.g. \`42.50%\` |
| \`closed\` | the generation finished (then the socket closes with 1000), or a normal close | \`Execution is done\` |
| \`error\` | failed, interrupted, backend lost, idle timeout — followed by \`closed\` and a close | a sentence |

Generation frames carry \`seq\` (increasing per clientId) and \`data.id\`; reconnect with \`&since=<seq>\` to receive
the frames you missed. \`closed\` after success carries \`data.result_urls\`. A missing or invalid clientId is
refused with HTTP 400 and the error body.
`;
