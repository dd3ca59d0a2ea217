import { cell, prose as text } from './escape.js';

/** Renders an OpenAPI document as one markdown page (VitePress-safe: text escaped, schemas in code blocks). */
interface Operation {
  summary?: string;
  description?: string;
  tags?: string[];
  parameters?: { name: string; in: string; required?: boolean; description?: string; schema?: Record<string, unknown> }[];
  requestBody?: { content: Record<string, { schema?: unknown }> };
  responses: Record<string, { description: string; content?: Record<string, { schema?: unknown; example?: unknown }> }>;
  'x-scope'?: string;
}


export function renderApi(document: Record<string, unknown>): string {
  const paths = document.paths as Record<string, Record<string, Operation>>;
  const byTag = new Map<string, string[]>();
  for (const [path, methods] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = op.tags?.[0] ?? 'other';
      byTag.set(tag, [...(byTag.get(tag) ?? []), renderOperation(method, path, op)]);
    }
  }
  const info = document.info as { description?: string };
  const sections = [...byTag.entries()].map(([tag, ops]) => `## ${tag}\n\n${ops.join('\n')}`);
  // Named shapes (StatusFrame, HistoryItem, Error…) once, referenced by name from the operations.
  const schemas = Object.entries(((document.components as { schemas?: Record<string, unknown> } | undefined)?.schemas ?? {}));
  if (schemas.length) {
    sections.push(`## Schemas\n\n${schemas.map(([name, schema]) => `### ${name}\n\n\`\`\`json\n${JSON.stringify(schema, null, 2)}\n\`\`\`\n`).join('\n')}`);
  }
  return `# HTTP API reference

_Generated from the OpenAPI document of the default deployment (\`npm run docs:build\`); a running server serves
its own at \`/openapi.json\` and a browsable page at \`/docs\`. The raw document: [openapi.json](/openapi.json)._

::: v-pre
${info.description ?? ''}

${sections.join('\n')}
:::
`;
}

function renderOperation(method: string, path: string, op: Operation): string {
  const out = [`### \`${method.toUpperCase()} ${path}\``, '', `**${text(op.summary)}** · scope: \`${op['x-scope'] ?? 'client'}\``, ''];
  if (op.description) out.push(text(op.description), '');
  if (op.parameters?.length) {
    out.push('| parameter | in | required | schema | description |', '|---|---|---|---|---|');
    for (const p of op.parameters) {
      out.push(`| \`${p.name}\` | ${p.in} | ${p.required ? 'yes' : 'no'} | \`${JSON.stringify(p.schema ?? {}).replace(/\|/g, '\\|')}\` | ${cell(p.description)} |`);
    }
    out.push('');
  }
  const body = op.requestBody?.content['application/json']?.schema;
  if (body) out.push('Request body (`application/json`):', '', '```json', JSON.stringify(body, null, 2), '```', '');
  out.push('| status | meaning |', '|---|---|');
  for (const [status, response] of Object.entries(op.responses)) out.push(`| ${status} | ${cell(response.description)} |`);
  out.push('');
  for (const [status, response] of Object.entries(op.responses)) {
    const media = response.content?.['application/json'];
    const schema = media?.schema as Record<string, unknown> | undefined;
    if (!schema || !status.startsWith('2')) continue;
    const ref = typeof schema.$ref === 'string' ? schema.$ref.split('/').at(-1)! : undefined;
    if (ref) out.push(`Response ${status}: schema \`${ref}\` (see Schemas below).`, '');
    else out.push(`Response ${status}:`, '', '```json', JSON.stringify(schema, null, 2), '```', '');
    if (media?.example !== undefined) out.push(`Example ${status}:`, '', '```json', JSON.stringify(media.example, null, 2), '```', '');
  }
  return out.join('\n');
}
