/**
 * /etc/subuid and /etc/subgid handling, pure: the files are read by the caller (probe.ts), so
 * this stays testable on plain strings.
 */

/** One line of /etc/subuid or /etc/subgid: `owner:start:count`. */
export interface SubidEntry {
  owner: string;
  start: number;
  count: number;
}

export interface SubidRange {
  start: number;
  count: number;
}

/** One line of a uid_map/gid_map: `container` maps to `host`, for `size` ids. */
export interface IdMapEntry {
  container: number;
  host: number;
  size: number;
}

const MAX_ID = 0xffffffff;

function parseId(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) && n <= MAX_ID ? n : undefined;
}

/** Skips comments, blank and malformed lines (shadow-utils does the same). */
export function parseSubidFile(text: string): SubidEntry[] {
  const entries: SubidEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const parts = line.split(':');
    if (parts.length !== 3) continue;
    const [owner, startText, countText] = parts as [string, string, string];
    const start = parseId(startText);
    const count = parseId(countText);
    if (owner === '' || start === undefined || count === undefined || count === 0) continue;
    if (start + count - 1 > MAX_ID) continue;
    entries.push({ owner, start, count });
  }
  return entries;
}

/**
 * The ranges a user owns, matched by name or by numeric uid as newuidmap does, in file order,
 * without duplicates (`usermod --add-subuids` run twice leaves two identical lines).
 */
export function findSubidRanges(entries: SubidEntry[], user: { name?: string; uid: number }): SubidRange[] {
  const ranges: SubidRange[] = [];
  for (const e of entries) {
    if (e.owner !== user.name && e.owner !== String(user.uid)) continue;
    if (ranges.some((r) => r.start === e.start && r.count === e.count)) continue;
    ranges.push({ start: e.start, count: e.count });
  }
  return ranges;
}

/**
 * The map for a user namespace: container 0 is the user's own id, container 1.. are the
 * subordinate ranges back to back. Without ranges only the one id is mapped.
 */
export function buildIdMap(hostId: number, ranges: SubidRange[]): IdMapEntry[] {
  const map: IdMapEntry[] = [{ container: 0, host: hostId, size: 1 }];
  let next = 1;
  for (const r of ranges) {
    if (next + r.count - 1 > MAX_ID - 1) break;
    map.push({ container: next, host: r.start, size: r.count });
    next += r.count;
  }
  return map;
}

/** The text the kernel expects in /proc/PID/uid_map (one `container host size` line each). */
export function formatIdMap(map: IdMapEntry[]): string {
  return map.map((e) => `${e.container} ${e.host} ${e.size}\n`).join('');
}

/** Maps a host id to the id a process inside the namespace sees; undefined when unmapped. */
export function toContainerId(map: IdMapEntry[], hostId: number): number | undefined {
  for (const e of map) {
    if (hostId >= e.host && hostId < e.host + e.size) return e.container + (hostId - e.host);
  }
  return undefined;
}
