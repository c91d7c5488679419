import { TsbuildError } from '../errors.js';

export interface GraphNode {
  index: number;
  name?: string;
  deps: readonly number[];
}

function label(n: GraphNode | undefined, index: number): string {
  return n?.name ?? String(index);
}

/** Indexes reachable from `target` through deps (the target included), ascending. */
export function pruneToTarget(nodes: readonly GraphNode[], target: number): number[] {
  const byIndex = new Map(nodes.map((n) => [n.index, n]));
  const seen = new Set<number>();
  const stack = [target];
  while (stack.length > 0) {
    const i = stack.pop() as number;
    if (seen.has(i)) continue;
    seen.add(i);
    for (const d of byIndex.get(i)?.deps ?? []) stack.push(d);
  }
  return [...seen].sort((a, b) => a - b);
}

/**
 * A dependency-respecting order of `include` (Kahn's algorithm), ties broken by stage index so
 * the order matches the file wherever the graph allows. Throws DOCKERFILE_STAGE on a cycle.
 */
export function topoOrder(nodes: readonly GraphNode[], include: readonly number[]): number[] {
  const byIndex = new Map(nodes.map((n) => [n.index, n]));
  const wanted = new Set(include);
  const pending = new Map<number, number>();
  const dependents = new Map<number, number[]>();
  for (const i of wanted) {
    const deps = [...new Set(byIndex.get(i)?.deps ?? [])].filter((d) => wanted.has(d));
    pending.set(i, deps.length);
    for (const d of deps) dependents.set(d, [...(dependents.get(d) ?? []), i]);
  }
  const ready = [...wanted].filter((i) => pending.get(i) === 0);
  const order: number[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => a - b);
    const i = ready.shift() as number;
    order.push(i);
    for (const dep of dependents.get(i) ?? []) {
      const left = (pending.get(dep) ?? 0) - 1;
      pending.set(dep, left);
      if (left === 0) ready.push(dep);
    }
  }
  if (order.length !== wanted.size) {
    const stuck = [...wanted].filter((i) => !order.includes(i)).sort((a, b) => a - b);
    throw new StageCycleError(stuck, stuck.map((i) => label(byIndex.get(i), i)));
  }
  return order;
}

/** The stages that could not be ordered; resolveBuildGraph points it at a Dockerfile line. */
export class StageCycleError extends TsbuildError {
  constructor(
    readonly stuck: readonly number[],
    labels: readonly string[],
  ) {
    super('DOCKERFILE_STAGE', `circular dependency detected on stage: ${labels.join(', ')}`, {
      hint: 'a stage cannot COPY --from a stage that (directly or not) depends on it',
    });
    this.name = 'StageCycleError';
  }
}
