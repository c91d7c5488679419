import type { Instruction } from './instructions.js';

/** ADD sources BuildKit fetches itself (HTTP(S) URLs, git repositories) rather than reading the context. */
function isRemoteSource(src: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(src) || /^git@[^:]+:/.test(src) || /\.git(#.*)?$/.test(src);
}

/**
 * Why the builder cannot run this instruction yet, or undefined when it can. Parsing accepts the
 * whole language so that a user gets "X is not supported yet" (DOCKERFILE_UNSUPPORTED) at the
 * instruction's location instead of a syntax error for a valid Dockerfile.
 */
export function unsupportedReason(instr: Instruction): string | undefined {
  switch (instr.kind) {
    case 'RUN': {
      const f = instr.flags;
      if (f.mounts.length > 0) return 'RUN --mount is not supported yet';
      if (f.network !== undefined) return 'RUN --network is not supported yet';
      if (f.security !== undefined) return 'RUN --security is not supported yet';
      if (f.devices.length > 0) return 'RUN --device is not supported yet';
      if (instr.heredocs.length > 0) return 'heredocs in RUN are not supported yet';
      return undefined;
    }
    case 'COPY':
    case 'ADD': {
      const k = instr.kind;
      if (instr.link) return `${k} --link is not supported yet`;
      if (instr.parents) return `${k} --parents is not supported yet`;
      if (instr.exclude.length > 0) return `${k} --exclude is not supported yet`;
      if (instr.checksum !== undefined) return 'ADD --checksum is not supported yet';
      if (instr.keepGitDir !== undefined) return 'ADD --keep-git-dir is not supported yet';
      if (instr.unpack !== undefined) return 'ADD --unpack is not supported yet';
      if (instr.heredocs.length > 0) return `heredocs in ${k} are not supported yet`;
      if (k === 'ADD') {
        const remote = instr.sources.find(isRemoteSource);
        if (remote !== undefined) return `ADD from a URL or git repository is not supported yet (${remote})`;
      }
      return undefined;
    }
    default:
      return undefined;
  }
}
