/** oclif's explicit command table (package.json oclif.commands). */
import { BakeCommand } from './bakeCommand.js';
import { BuildCommand } from './buildCommand.js';
import { CompletionCommand } from './completionCommand.js';
import { FsckCommand } from './fsckCommand.js';
import { ImagesCommand } from './imagesCommand.js';
import { InfoCommand } from './infoCommand.js';
import { PushCommand } from './pushCommand.js';

export const commands = {
  bake: BakeCommand,
  build: BuildCommand,
  completion: CompletionCommand,
  fsck: FsckCommand,
  images: ImagesCommand,
  info: InfoCommand,
  push: PushCommand,
};
