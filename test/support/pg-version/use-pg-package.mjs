// `node --import ./test/support/pg-version/use-pg-package.mjs …` with PG_PACKAGE=pg-oldest makes every
// `import 'pg'` (the library's included) load that installed alias instead: the oldest pg release
// the package supports, as a user with it would have.
import { register } from 'node:module';

register('./use-pg-package.hooks.mjs', import.meta.url, { data: { pgPackage: process.env.PG_PACKAGE ?? 'pg' } });
