/** Mount points from /proc/self/mountinfo (proc(5)). Pure. */

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
export function decodeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Every mount point (field 5), in file order, `/` included. */
export function mountPoints(mountinfo: string): string[] {
  const out: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const point = line.split(' ')[4];
    if (point !== undefined && point.startsWith('/')) out.push(decodeMountPath(point));
  }
  return out;
}
