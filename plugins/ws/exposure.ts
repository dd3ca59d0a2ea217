import { isIP } from 'node:net';
import type { Logger } from 'pino';

/** Whether `host` only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare === '::1') return true;
  return isIP(bare) === 4 && bare.startsWith('127.');
}

/**
 * With auth off, a clientId is the only thing between a stranger and a client's live frames (and its
 * interrupt). On a loopback host that is the operator's choice; on any other it must be said loudly.
 */
export function warnIfExposed(host: string, authOn: boolean, log: Logger): void {
  if (authOn || isLoopback(host)) return;
  log.warn(
    { host, auth: 'off' },
    'AUTH IS OFF and the server listens on %s: anyone who can reach it and learns a clientId can watch its generations ' +
      '(/ws) and interrupt them. Turn auth on (plugins.auth.keys or COMFY_BRIDGE_API_KEYS) or listen on 127.0.0.1 behind a ' +
      'proxy that authenticates; see docs/security.md.',
    host,
  );
}
