import type { Instruction } from './instructions.js';

/**
 * Why the builder cannot run this instruction yet, or undefined when it can. Parsing accepts the
 * whole language so that a user gets "X is not supported yet" (DOCKERFILE_UNSUPPORTED) at the
 * instruction's location instead of a syntax error for a valid Dockerfile.
 */
export function unsupportedReason(instr: Instruction): string | undefined {
  switch (instr.kind) {
    case 'RUN': {
      const f = instr.flags;
      // --mount, --network, --security and heredocs are checked where the RUN runs (runStep).
      if (f.devices.length > 0) return 'RUN --device is not supported yet';
      return undefined;
    }
    default:
      return undefined;
  }
}
