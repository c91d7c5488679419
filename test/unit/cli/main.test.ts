import { describe, expect, it } from 'vitest';
import { commands } from '../../../src/cli/commands.js';
import { COMMAND_IDS, withDefaultCommand } from '../../../src/cli/main.js';

describe('main', () => {
  it('knows every command id without loading the command table', () => {
    // withDefaultCommand decides "build or not" from COMMAND_IDS alone; a command missing there
    // would be run as `tsbuild build <id>`.
    expect([...COMMAND_IDS].sort()).toEqual(Object.keys(commands).sort());
    for (const id of COMMAND_IDS) expect(withDefaultCommand([id, 'x'])).toEqual([id, 'x']);
  });
});
