import type { BridgeConfig } from '../core/config/schema.js';

/** What an operator can fix, said in one line: the errno codes that mean "your machine", not "our bug". */
const MEANING: Record<string, string> = {
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  ENOTDIR: 'a part of the path is not a folder',
  EISDIR: 'it is a folder',
  EDQUOT: 'disk quota exceeded',
};

/**
 * One clear line for a start that failed because of the machine (port taken, data dir read-only or not
 * ours), naming the port or the path; undefined for anything else (that one keeps its stack in the log).
 */
export function startupErrorLine(error: unknown, config: BridgeConfig): string | undefined {
  for (let cause = error, depth = 0; cause && depth < 8; cause = (cause as { cause?: unknown }).cause, depth++) {
    const { code, path, syscall } = cause as NodeJS.ErrnoException;
    if (typeof code !== 'string') continue;
    if (code === 'EADDRINUSE') return `port ${config.server.port} on ${config.server.host} is already in use (EADDRINUSE): stop the other server or choose another --port`;
    if (code === 'EADDRNOTAVAIL') return `cannot listen on ${config.server.host}: no such address on this machine (EADDRNOTAVAIL)`;
    if (code === 'EACCES' && syscall === 'listen') return `no permission to listen on port ${config.server.port} (EACCES): ports below 1024 need privileges`;
    const meaning = MEANING[code];
    if (meaning) return `cannot use ${path ?? config.dataDir}: ${meaning} (${code}); check the data dir (--data-dir, COMFY_BRIDGE_DATA_DIR)`;
  }
  return undefined;
}
