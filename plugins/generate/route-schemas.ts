import { Type, type Static } from '@sinclair/typebox';
import { WEBHOOK_REQUEST_SCHEMA, type WebhookRequest } from '../../contracts/outbox.js';
import { CLIENT_ID } from '../../contracts/schemas.js';

/** The schemas of POST /generate-based-workflow: the kernel validates with them, OpenAPI lists them, the handler's types come from them. */
const WAIT = Type.Boolean({ description: 'Answer when the generation ends.' });

export const generateQuery = Type.Object({ clientId: Type.Optional(CLIENT_ID), wait: Type.Optional(WAIT) });

/** The control keys; every other key is a workflow input, flat, checked against that workflow by the handler. */
export const generateBody = Type.Object(
  {
    workflow: Type.String({ minLength: 1, maxLength: 128, description: 'The workflow alias (GET /workflow-list).' }),
    clientId: Type.Optional(CLIENT_ID),
    wait: Type.Optional(WAIT),
    webhook: Type.Optional(Type.Unsafe<WebhookRequest>(WEBHOOK_REQUEST_SCHEMA)),
  },
  { additionalProperties: Type.Unknown({ description: '"<node id>/<input name>": a designated input of the workflow (GET /workflow-info).' }) },
);

export type GenerateQuery = Static<typeof generateQuery>;
export type GenerateBody = Static<typeof generateBody>;
