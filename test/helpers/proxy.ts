import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';

/**
 * A round-robin HTTP + WebSocket proxy over node:http, as a load balancer without sticky sessions
 * would be: each request (and each websocket upgrade) goes to the next target; a target that
 * refuses the connection is skipped for the next one (a request already sent to a target that dies
 * answers 502, like nginx). Targets change while it runs (instances killed and restarted).
 */
export interface RoundRobinProxy {
  url: string;
  setTargets(urls: string[]): void;
  close(): Promise<void>;
}

export async function startRoundRobinProxy(initial: string[]): Promise<RoundRobinProxy> {
  let targets = [...initial];
  let next = 0;
  const sockets = new Set<Socket>();
  const pick = (): URL | undefined => {
    if (targets.length === 0) return undefined;
    next = (next + 1) % targets.length;
    return new URL(targets[next]!);
  };

  const server: Server = createServer((req, res) => {
    const forward = (attempt: number): void => {
      const target = pick();
      if (!target) {
        res.writeHead(502).end();
        return;
      }
      const upstream = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', (error: NodeJS.ErrnoException) => {
        // Refused before anything was sent: no instance saw it, try the next one (the body is not read yet).
        if (error.code === 'ECONNREFUSED' && attempt < targets.length && !req.readableDidRead) return forward(attempt + 1);
        if (!res.headersSent) res.writeHead(502).end();
        else res.destroy();
      });
      req.pipe(upstream);
    };
    forward(1);
  });

  server.on('upgrade', (req: IncomingMessage, client: Socket, head: Buffer) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    const target = pick();
    if (!target) return client.destroy();
    const upstream = connect(Number(target.port), target.hostname, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    setTargets(urls) {
      targets = [...urls];
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
