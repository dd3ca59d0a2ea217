#!/usr/bin/env node
// The sources are TypeScript run through tsx's loader: no build step between a clone and a running server.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../core/cli/main.ts');
// Exit explicitly: a plugin timer left behind must not keep a stopped server alive.
process.exit(await main(process.argv.slice(2)));
