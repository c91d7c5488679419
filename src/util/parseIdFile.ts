/**
 * /etc/passwd and /etc/group lines as name, id and (passwd only) primary gid; malformed lines are
 * skipped. Shared by COPY --chown and the copy runtimes' USER lookup.
 */
export interface IdEntry {
  name: string;
  id: number;
  gid?: number;
}

export function parseIdFile(text: string): IdEntry[] {
  const out: IdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 3 || !f[0]) continue;
    const id = Number(f[2]);
    if (!Number.isInteger(id)) continue;
    const gid = f.length >= 4 ? Number(f[3]) : NaN;
    out.push({ name: f[0], id, ...(Number.isInteger(gid) ? { gid } : {}) });
  }
  return out;
}
