// `node --import ./test/support/typescript-loader.mjs file.ts` runs the repository's TypeScript in a
// child process, the way Jest's ts-jest runs it in ours (transpile only; `npm run typecheck` checks).
import { register } from 'node:module';

register('./typescript-loader.hooks.mjs', import.meta.url);
