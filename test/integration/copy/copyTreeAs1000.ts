import { copyFiles } from '../../../src/build/steps/copyFiles.js';
import type { ChmodSpec } from '../../../src/build/steps/chmodSpec.js';

/** copyFiles of `<src>/tree` into `<dest>/out/` from the build context, owned by 1000:1000. */
export function copyTreeAs1000(src: string, dest: string, chmod?: ChmodSpec): ReturnType<typeof copyFiles> {
  return copyFiles({
    srcRoot: src,
    srcName: 'build context',
    sources: ['tree'],
    destRoot: dest,
    dest: '/out/',
    owner: { uid: 1000, gid: 1000 },
    ...(chmod ? { chmod } : {}),
    extractArchives: false,
    signal: new AbortController().signal,
  });
}
