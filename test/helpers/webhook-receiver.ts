import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One request the receiver got, with whether its signature verified (by the standardwebhooks reference package). */
export interface Received {
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  json: { type: string; timestamp: string; data: Record<string, unknown> };
  verified: boolean;
  /** What the verifier said when it refused. */
  refusal?: string;
}

/** What to answer a request with: a status, or `hang` (never answer). */
export type Reply = number | 'hang';

/**
 * A real HTTP webhook receiver on 127.0.0.1:0 that verifies every request with `standardwebhooks`
 * (the Standard Webhooks reference implementation, an independent verifier of the bridge's signing).
 */
export class WebhookReceiver {
  readonly received: Received[] = [];
  /** Answers in order; the last one repeats. */
  replies: Reply[] = [200];
  #server: Server | undefined;
  readonly #hanging = new Set<ServerResponse>();

  constructor(private readonly secret: string) {}

  get url(): string {
    return `http://127.0.0.1:${(this.#server!.address() as AddressInfo).port}`;
  }

  async start(port = 0): Promise<this> {
    this.#server = createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve) => this.#server!.listen(port, '127.0.0.1', resolve));
    return this;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const header = (name: string) => String(req.headers[name] ?? '');
    let verified = false;
    let refusal: string | undefined;
    try {
      new Webhook(this.secret).verify(body, { 'webhook-id': header('webhook-id'), 'webhook-timestamp': header('webhook-timestamp'), 'webhook-signature': header('webhook-signature') });
      verified = true;
    } catch (error) {
      refusal = (error as Error).message;
    }
    this.received.push({ id: header('webhook-id'), timestamp: header('webhook-timestamp'), signature: header('webhook-signature'), body, json: JSON.parse(body) as Received['json'], verified, refusal });
    const reply = this.replies.length > 1 ? this.replies.shift()! : this.replies[0]!;
    if (reply === 'hang') {
      this.#hanging.add(res);
      return;
    }
    res.writeHead(reply, { 'content-type': 'text/plain' }).end(reply < 300 ? 'ok' : 'no');
  }

  async stop(): Promise<void> {
    for (const res of this.#hanging) res.destroy();
    this.#server?.closeAllConnections();
    await new Promise((resolve) => this.#server?.close(resolve));
  }
}

/** A fresh Standard Webhooks secret. */
export const newSecret = (): string => `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')}`;
