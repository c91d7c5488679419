import { writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Named points where the crash-safety tests (test/integration/reliability) SIGKILL tsbuild. Inert
 * unless TSBUILD_TEST_PAUSE_AT names this point: then the process writes its pid to
 * TSBUILD_TEST_PAUSE_MARKER and sleeps, so the test kills it exactly there, not at a random time.
 */
export type PausePoint = 'blob-install' | 'layer-commit' | 'layer-install' | 'tag-update' | 'atomic-rename' | 'push-blob' | 'push-manifest';

export async function testPausePoint(point: PausePoint, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (env['TSBUILD_TEST_PAUSE_AT'] !== point) return;
  const marker = env['TSBUILD_TEST_PAUSE_MARKER'];
  if (marker) await writeFile(marker, `${process.pid}\n`);
  // Bounded, so a test that forgets to kill does not leave a process behind for ever.
  await sleep(120_000);
}
