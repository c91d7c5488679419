import { readFileSync } from 'node:fs';

/**
 * Whether a process still runs, for telling a live build's temp files, locks and leases from a
 * killed one's. A zombie (exited, not yet reaped by its parent) counts as dead: a build killed
 * with its namespace helper lingers as one for a moment, and its leftovers are already orphans.
 * Reads /proc synchronously: one tiny procfs read, only on cleanup paths.
 */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state is the first field after "(comm)"; comm itself may contain spaces and parens.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}
