import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { pidAlive } from '../../../src/util/pidAlive.js';

describe('pidAlive', () => {
  it('is true for running processes and false for unknown pids', () => {
    expect(pidAlive(process.pid)).toBe(true);
    expect(pidAlive(0)).toBe(false);
    expect(pidAlive(-1)).toBe(false);
    expect(pidAlive(2 ** 22 + 1)).toBe(false); // above the kernel's pid_max
  });

  it('counts a zombie (exited, not reaped) as dead, so its leftovers can be cleaned', async () => {
    // `sleep 2` becomes a child of `sleep 10` (sh execs it), which never reaps it: a zombie.
    const parent = spawn('sh', ['-c', 'sleep 2 & echo $!; exec sleep 10'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const [line] = (await once(parent.stdout, 'data')) as [Buffer];
      const zombie = Number(line.toString().trim());
      expect(pidAlive(zombie)).toBe(true);
      await new Promise((r) => setTimeout(r, 2600));
      expect(pidAlive(zombie)).toBe(false);
      expect(pidAlive(parent.pid as number)).toBe(true);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
