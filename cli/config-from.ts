import { loadConfigWithOrigins, type Origins } from './config/load.js';
import type { BridgeConfig } from '../core/config/schema.js';
import type { ParsedCommand } from './args.js';

/** The effective config of a command line: embedded defaults < --config file < COMFY_BRIDGE_* < flags. */
export function configFrom(parsed: ParsedCommand): Promise<{ config: BridgeConfig; origins: Origins }> {
  return loadConfigWithOrigins({ file: parsed.configFile, env: process.env, cliFlags: parsed.cliFlags });
}

/** The plugin modules the config file names (for help, which must not fail on a flag it is asked about). */
export async function configuredPluginModules(parsed: ParsedCommand): Promise<string[]> {
  if (parsed.configFile === undefined) return [];
  try {
    const { config } = await loadConfigWithOrigins({ file: parsed.configFile, env: {} });
    return [...config.pluginModules];
  } catch {
    return [];
  }
}
