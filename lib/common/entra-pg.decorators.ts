import { Inject } from '@nestjs/common';
import { getPgPoolToken } from './entra-pg.utils.js';

/** Injects the pool of the named connection (the default one when no name is given). */
export const InjectPgPool = (name?: string): ParameterDecorator & PropertyDecorator =>
  Inject(getPgPoolToken(name));
