/** oclif's explicit command table (package.json oclif.commands). */
import { BuildCommand } from './buildCommand.js';
import { FsckCommand } from './fsckCommand.js';
import { ImagesCommand } from './imagesCommand.js';
import { PushCommand } from './pushCommand.js';

export const commands = {
  build: BuildCommand,
  fsck: FsckCommand,
  images: ImagesCommand,
  push: PushCommand,
};
