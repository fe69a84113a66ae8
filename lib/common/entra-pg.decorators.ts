import { Inject } from '@nestjs/common';
import { getPgPasswordToken, getPgPoolToken } from './entra-pg.utils.js';

/** Injects the pool of the named connection (the default one when no name is given). */
export const InjectPgPool = (name?: string): ParameterDecorator & PropertyDecorator =>
  Inject(getPgPoolToken(name));

/** Injects the named connection's current password (`EntraPgPassword`), for an ORM that opens its own connections. */
export const InjectPgPassword = (name?: string): ParameterDecorator & PropertyDecorator =>
  Inject(getPgPasswordToken(name));
