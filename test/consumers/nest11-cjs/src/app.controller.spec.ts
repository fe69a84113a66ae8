import { Test } from '@nestjs/testing';
import { PG_POOL } from 'nestjs-entra-pg';
import { AppController } from './app.controller';

// A unit test as the starter has one: the pool is a plain stand-in, injected by its string token.
describe('AppController', () => {
  it('answers with the current database user', async () => {
    const pool = { query: async () => ({ rows: [{ user: 'someone' }] }) };
    const module = await Test.createTestingModule({
      controllers: [AppController],
      providers: [{ provide: PG_POOL, useValue: pool }],
    }).compile();
    await expect(module.get(AppController).whoami()).resolves.toEqual({ user: 'someone' });
  });
});
