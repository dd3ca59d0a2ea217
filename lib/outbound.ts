import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/**
 * Requests the bridge makes to addresses a client chose (webhook receivers, image inputs by URL)
 * must not reach the bridge's own network: loopback, private ranges, link-local (cloud metadata at
 * 169.254.169.254), unique-local IPv6 and the like. A hostname is resolved once, every answer is
 * checked, and the socket connects to the checked address (the agent's `lookup`), so a DNS answer
 * that changes between the check and the connection (rebinding) cannot slip through. Redirects are
 * never followed: a 3xx is the answer.
 */

/** Resolves a hostname to every address (injected in tests to answer what a hostile DNS would). */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export interface OutboundPolicy {
  /** Hostnames allowed: exact ("hooks.example.com") or a suffix ("*.example.com"); ["*"] allows any. */
  allowHosts: readonly string[];
  /** Allow loopback, private, link-local and other internal addresses (a bridge and receiver on one private network; tests). */
  allowPrivateAddresses: boolean;
  resolve?: Resolver;
}

export class OutboundRefused extends Error {
  override readonly name = 'OutboundRefused';
}

const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) => dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) => (error ? reject(error) : resolve(addresses))));

/** Ranges no outbound request of a client's choosing may reach, each with the word said when refused. */
const INTERNAL: [string, number, 'ipv4' | 'ipv6', string][] = [
  ['0.0.0.0', 8, 'ipv4', 'unspecified'],
  ['10.0.0.0', 8, 'ipv4', 'private'],
  ['100.64.0.0', 10, 'ipv4', 'shared (carrier-grade NAT)'],
  ['127.0.0.0', 8, 'ipv4', 'loopback'],
  ['169.254.0.0', 16, 'ipv4', 'link-local (cloud metadata)'],
  ['172.16.0.0', 12, 'ipv4', 'private'],
  ['192.0.0.0', 24, 'ipv4', 'IETF protocol'],
  ['192.168.0.0', 16, 'ipv4', 'private'],
  ['198.18.0.0', 15, 'ipv4', 'benchmarking'],
  ['224.0.0.0', 4, 'ipv4', 'multicast'],
  ['240.0.0.0', 4, 'ipv4', 'reserved'],
  ['::', 128, 'ipv6', 'unspecified'],
  ['::1', 128, 'ipv6', 'loopback'],
  ['fc00::', 7, 'ipv6', 'unique-local'],
  ['fe80::', 10, 'ipv6', 'link-local'],
  ['ff00::', 8, 'ipv6', 'multicast'],
  ['fd00:ec2::254', 128, 'ipv6', 'cloud metadata'],
];

const blocks = INTERNAL.map(([network, prefix, family, why]) => {
  const list = new BlockList();
  list.addSubnet(network, prefix, family);
  return { list, why };
});

/** Why `address` is internal (loopback, private…), or undefined for a public address. IPv4-mapped IPv6 is checked as IPv4. */
export function internalAddressKind(address: string): string | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const ip = mapped ? mapped[1]! : address;
  const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
  return blocks.find(({ list }) => list.check(ip, family))?.why;
}

function hostAllowed(hostname: string, allowHosts: readonly string[]): boolean {
  const host = hostname.toLowerCase();
  return allowHosts.some((rule) => {
    const r = rule.toLowerCase();
    if (r === '*') return true;
    if (r.startsWith('*.')) return host.endsWith(r.slice(1));
    return host === r;
  });
}

/** Parses and checks a URL a client gave: http(s), no credentials, an allowed host, and (for an IP literal) an allowed address. */
export function checkOutboundUrl(raw: string, policy: OutboundPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OutboundRefused('not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new OutboundRefused(`only http and https URLs are allowed, not ${url.protocol}`);
  if (url.username || url.password) throw new OutboundRefused('URLs with credentials are not allowed');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!hostAllowed(host, policy.allowHosts)) throw new OutboundRefused(`the host ${host} is not on the allow-list`);
  if (isIP(host)) checkAddress(host, policy);
  return url;
}

function checkAddress(address: string, policy: OutboundPolicy): void {
  if (policy.allowPrivateAddresses) return;
  const why = internalAddressKind(address);
  if (why) throw new OutboundRefused(`the address ${address} is ${why}; such addresses are refused unless allowPrivateAddresses is set`);
}

/**
 * A `lookup` for http(s).request: resolves with the policy's resolver, refuses the connection if
 * any answer is internal (a hostile DNS may mix them), and connects to the first checked address.
 */
export function pinnedLookup(policy: OutboundPolicy): LookupFunction {
  const resolve = policy.resolve ?? systemResolver;
  return ((hostname: string, options: { all?: boolean }, callback: (error: Error | null, address: string | LookupAddress[], family?: number) => void) => {
    resolve(hostname).then(
      (addresses) => {
        if (addresses.length === 0) throw new OutboundRefused(`${hostname} resolves to no address`);
        for (const { address } of addresses) checkAddress(address, policy);
        const first = addresses[0]!;
        if (options.all) callback(null, [first]);
        else callback(null, first.address, first.family);
      },
    ).catch((error: unknown) => callback(error as Error, '', 0));
  }) as LookupFunction;
}

export interface OutboundRequest {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** The whole exchange, connection to last byte. */
  timeoutMs: number;
  /** A longer response body is refused (and the connection dropped) as soon as it is known to be. */
  maxBytes: number;
}

export interface OutboundResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export class OutboundTooLarge extends OutboundRefused {}

/** One request to a client-chosen URL under `policy`: checked, pinned, bounded in time and size, redirects not followed. */
export async function outboundRequest(raw: string, policy: OutboundPolicy, request: OutboundRequest): Promise<OutboundResponse> {
  const url = checkOutboundUrl(raw, policy);
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<OutboundResponse>((resolve, reject) => {
    // Settles once: a refusal wins over whatever the destroyed socket emits after it.
    let settled = false;
    const settle = (error: Error | null, response?: OutboundResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) {
        req.destroy();
        reject(error);
      } else resolve(response!);
    };
    const req = client.request(url, {
      method: request.method ?? 'GET',
      headers: request.headers,
      lookup: pinnedLookup(policy),
      agent: false,
    });
    const timer = setTimeout(() => settle(new OutboundRefused(`no complete answer within ${request.timeoutMs} ms`)), request.timeoutMs);
    req.on('error', (error) => settle(error));
    req.on('response', (res) => {
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > request.maxBytes) {
        settle(new OutboundTooLarge(`the answer is ${declared} bytes, over the limit of ${request.maxBytes}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > request.maxBytes) settle(new OutboundTooLarge(`the answer is over the limit of ${request.maxBytes} bytes`));
        else chunks.push(chunk);
      });
      res.on('end', () => {
        if (!res.complete) settle(new OutboundRefused('the connection closed before the answer was complete'));
        else settle(null, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on('error', (error) => settle(error));
      res.on('aborted', () => settle(new OutboundRefused('the connection closed before the answer was complete')));
    });
    req.end(request.body);
  });
}

declare module '../core/services.js' {
  interface ServiceMap {
    /** Replaces DNS for requests to client-chosen URLs (tests answer what a hostile DNS would). Optional. */
    resolver: Resolver;
  }
}
