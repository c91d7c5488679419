/**
 * COPY and ADD: files from the context, another stage or image, a heredoc, an http(s) URL or a
 * git repository (the last two ADD only) into a new layer, with BuildKit's flags.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { CopyInstruction, Heredoc } from '../../dockerfile/instructions.js';
import { expandInstruction, expandWord } from '../../dockerfile/expand.js';
import { lexWord } from '../../dockerfile/shellLex.js';
import { unsupportedReason } from '../../dockerfile/unsupported.js';
import { TsbuildError } from '../../errors.js';
import type { LayerInfo } from '../../layer/commitLayer.js';
import { withReadonlyRootfs, withWritableRootfs } from '../rootfs.js';
import { expansionEnv } from '../stageState.js';
import type { ImageRootfs, StepContext, StepHandler } from '../stepContext.js';
import { parseChmod } from './chmodSpec.js';
import { copyFiles, type CopyRequest, type Ownership } from './copyFiles.js';
import { commitProgress, commitStep } from './commitStep.js';
import { cloneGit, fetchUrl, isGitSource, isUrlSource } from '../../context/remoteSources.js';
import { resolveOwner } from './resolveOwner.js';

/** Docker: a relative dest is under WORKDIR; `.` and a trailing `/` mean "into this directory". */
export function destinationPath(dest: string, workdir: string | undefined): string {
  const wantsDir = dest.endsWith('/') || dest === '.' || dest.endsWith('/.');
  const abs = posix.isAbsolute(dest) ? posix.normalize(dest) : posix.join(workdir || '/', dest);
  return wantsDir && !abs.endsWith('/') ? `${abs}/` : abs;
}

/**
 * A heredoc's file content as BuildKit writes it: `<<-` strips leading tabs, and an unquoted
 * delimiter expands variables (quotes and backslashes in the body are kept as written).
 */
export function heredocContent(doc: Heredoc, env: ReadonlyMap<string, string>): string {
  let text = doc.chomp ? doc.content.replace(/^\t+/gm, '') : doc.content;
  if (doc.expand) text = lexWord(text, (name) => env.get(name), { rawQuotes: true, rawEscapes: true }).word;
  return text;
}

type SourceGroup =
  | { kind: 'local'; sources: string[] }
  | { kind: 'heredoc'; doc: Heredoc }
  | { kind: 'url'; url: string }
  | { kind: 'git'; repo: string };

function groupSources(instr: CopyInstruction, sources: readonly string[]): SourceGroup[] {
  const docs = new Map(instr.heredocs.map((d) => [d.name, d]));
  const local: string[] = [];
  const groups: SourceGroup[] = [];
  for (const src of sources) {
    const doc = src.startsWith('<<') ? docs.get(src.replace(/^<<-?/, '').replace(/^(['"])(.*)\1$/, '$2')) : undefined;
    if (doc) groups.push({ kind: 'heredoc', doc });
    else if (instr.kind === 'ADD' && isGitSource(src)) groups.push({ kind: 'git', repo: src });
    else if (instr.kind === 'ADD' && isUrlSource(src)) groups.push({ kind: 'url', url: src });
    else local.push(src);
  }
  return local.length > 0 ? [{ kind: 'local', sources: local }, ...groups] : groups;
}

export const copyStep: StepHandler<CopyInstruction> = {
  async execute(instr, state, ctx) {
    const env = expansionEnv(state);
    const expanded = expandInstruction(instr, env);
    // A URL can hide behind a variable (`ADD $URL /x`): check again after expansion.
    const reason = unsupportedReason(expanded);
    if (reason) throw new TsbuildError('DOCKERFILE_UNSUPPORTED', reason);
    const dest = destinationPath(expanded.dest, state.config.config?.WorkingDir);
    const chmod = expanded.chmod !== undefined ? parseChmod(expanded.chmod) : undefined;
    const exclude = instr.exclude.map((p) => expandWord(p, env));
    const checksum = instr.checksum !== undefined ? expandWord(instr.checksum, env) : undefined;
    const groups = groupSources(instr, expanded.sources);
    if (expanded.sources.length > 1 && !dest.endsWith('/') && !instr.parents) {
      throw new TsbuildError('COPY_SOURCE', `when using ${instr.kind} with more than one source file, the destination must be a directory and end with a /`);
    }
    if (checksum !== undefined && !(groups.length === 1 && groups[0]?.kind === 'url')) {
      throw new TsbuildError('DOCKERFILE_UNSUPPORTED', 'ADD --checksum needs exactly one http(s) URL source (a checksum of a git source is not supported yet)');
    }

    const staging = await mkdtemp(join(ctx.services.tmpDir, 'add-'));
    try {
      // Fetch remote sources and write heredocs before mounting anything: a failed download
      // then leaves no snapshot behind.
      const staged: Array<Omit<CopyRequest, 'destRoot' | 'dest' | 'signal' | 'owner'>> = [];
      for (const [i, g] of groups.entries()) {
        const dir = join(staging, String(i));
        await mkdir(dir);
        if (g.kind === 'heredoc') {
          await writeFile(join(dir, g.doc.name), heredocContent(g.doc, env), { mode: 0o644 });
          staged.push({ srcRoot: dir, srcName: 'heredoc', sources: [g.doc.name], extractArchives: false });
        } else if (g.kind === 'url') {
          const { name } = await fetchUrl(g.url, dir, { ...(checksum !== undefined ? { checksum } : {}), signal: ctx.signal });
          staged.push({ srcRoot: dir, srcName: g.url, sources: [name], extractArchives: instr.unpack === true });
        } else if (g.kind === 'git') {
          const repoDir = join(dir, 'repo');
          const sub = await cloneGit(g.repo, repoDir, { keepGitDir: instr.keepGitDir === true, signal: ctx.signal });
          staged.push({ srcRoot: repoDir, srcName: g.repo, sources: [sub], extractArchives: false });
        }
      }
      const local = groups.find((g): g is Extract<SourceGroup, { kind: 'local' }> => g.kind === 'local');
      const copyAll = async (root: string, owner: Ownership | undefined, localRoot?: { root: string; name: string; skip?: CopyRequest['skip'] }) => {
        const common = { destRoot: root, dest, signal: ctx.signal, owners: ctx.services.owners, ...(owner ? { owner } : {}), ...(chmod !== undefined ? { chmod } : {}) };
        if (local && localRoot) {
          await copyFiles({
            ...common,
            srcRoot: localRoot.root,
            srcName: localRoot.name,
            sources: local.sources,
            extractArchives: instr.kind === 'ADD' && instr.unpack !== false,
            ...(exclude.length > 0 ? { exclude } : {}),
            ...(instr.parents ? { parents: true } : {}),
            ...(localRoot.skip ? { skip: localRoot.skip } : {}),
          });
        }
        for (const req of staged) await copyFiles({ ...common, ...req, ...(exclude.length > 0 ? { exclude } : {}) });
      };
      // --link: the layer is built on an empty tree, independent of the stage's layers (so it
      // reads nothing of them; --chown names still come from the stage's /etc/passwd).
      const linkOwner = instr.link && expanded.chown !== undefined
        ? await withReadonlyRootfs(ctx.services, state.layers, (root) => resolveOwner(expanded.chown as string, root))
        : undefined;
      const write = (localRoot?: { root: string; name: string; skip?: CopyRequest['skip'] }): Promise<LayerInfo> =>
        withWritableRootfs(ctx.services, instr.link ? [] : state.layers, ctx.signal, async (root) => {
          const owner = linkOwner ?? (expanded.chown !== undefined ? await resolveOwner(expanded.chown, root) : undefined);
          await copyAll(root, owner, localRoot);
        }, commitProgress(ctx));
      let layer: LayerInfo;
      if (!local) layer = await write();
      else if (expanded.from === undefined) {
        layer = await write({ root: ctx.services.contextDir, name: 'build context', ...(ctx.services.contextFilter ? { skip: ctx.services.contextFilter } : {}) });
      } else {
        const source = await copySource(instr, expanded.from, ctx);
        layer = await withReadonlyRootfs(ctx.services, source.rootfs.layers, (srcRoot) => write({ root: srcRoot, name: source.name }));
      }
      return commitStep(state, ctx, layer, instr.original);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  },
};

async function copySource(instr: CopyInstruction, from: string, ctx: StepContext): Promise<{ name: string; rootfs: ImageRootfs }> {
  // The graph resolved each COPY --from once (stage, named context or image); find this one.
  const dep = ctx.stage.copyFrom.find((c) => ctx.stage.ast.instructions[c.instructionIndex] === instr);
  switch (dep?.kind) {
    case 'stage':
      return { name: `stage ${from}`, rootfs: await ctx.services.stageResult(dep.index) };
    case 'context':
      return { name: `build context ${dep.name}`, rootfs: await ctx.services.namedContext(dep.name, ctx.signal) };
    case 'image':
      return { name: `image ${dep.ref}`, rootfs: await ctx.services.image(dep.ref, ctx.signal) };
    default:
      return { name: `image ${from}`, rootfs: await ctx.services.image(from, ctx.signal) };
  }
}
