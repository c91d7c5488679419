/** oclif's explicit command table (package.json oclif.commands). */
import { BakeCommand } from './bakeCommand.js';
import { BuildCommand } from './buildCommand.js';
import { CacheCommand } from './cacheCommand.js';
import { CompletionCommand } from './completionCommand.js';
import { FsckCommand } from './fsckCommand.js';
import { ImagesCommand } from './imagesCommand.js';
import { InspectCommand } from './inspectCommand.js';
import { InfoCommand } from './infoCommand.js';
import { LintCommand } from './lintCommand.js';
import { LoginCommand } from './loginCommand.js';
import { LogoutCommand } from './logoutCommand.js';
import { PullCommand } from './pullCommand.js';
import { PushCommand } from './pushCommand.js';
import { RmiCommand } from './rmiCommand.js';
import { TagCommand } from './tagCommand.js';

export const commands = {
  bake: BakeCommand,
  build: BuildCommand,
  cache: CacheCommand,
  completion: CompletionCommand,
  fsck: FsckCommand,
  images: ImagesCommand,
  info: InfoCommand,
  inspect: InspectCommand,
  lint: LintCommand,
  login: LoginCommand,
  logout: LogoutCommand,
  pull: PullCommand,
  push: PushCommand,
  rmi: RmiCommand,
  tag: TagCommand,
};
