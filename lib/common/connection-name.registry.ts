import type { ModulesContainer } from '@nestjs/core';
import { EntraPgConfigError } from '../entra-pg.errors.js';

/**
 * Refuses a second registration of one connection name in the same app, as @nestjs/typeorm's
 * data-source registry does: both would provide the same PG_POOL token, and Nest would silently
 * hand every consumer just one of the pools. Read from the app's own module graph, so separate
 * apps in one process (tests) may reuse names.
 */
export function assertUniqueConnectionName(
  modules: ModulesContainer,
  moduleType: unknown,
  connectionToken: string,
  name: string,
): void {
  let registrations = 0;
  for (const module of modules.values()) {
    if (module.metatype === moduleType && module.providers.has(connectionToken)) registrations += 1;
  }
  if (registrations > 1) {
    throw new EntraPgConfigError(
      `EntraPgModule "${name}" is registered ${registrations} times; give each forRoot()/forRootAsync() its own \`name\`.`,
      name,
    );
  }
}
