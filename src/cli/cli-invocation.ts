import { accessSync, constants as fsConstants, realpathSync } from 'node:fs';
import { delimiter, isAbsolute, join, relative } from 'node:path';

/**
 * How the user can run this CLI from where they are, for the "next command" lines `serve` prints:
 * `anbox-oob` when that name on $PATH is this very program (installed globally or linked), else
 * `node <path to main.js>`, relative to the directory the user started from (npm sets INIT_CWD
 * for `npm start`) when it is inside it. `npx anbox-oob` is not offered in a clone: npx installs the
 * clone as a package first (running its build), which is slow and needs the registry.
 */
export function cliInvocation(env: NodeJS.ProcessEnv = process.env, mainScript: string | undefined = process.argv[1], cwd: string = process.cwd()): string {
  const main = mainScript ? safeRealpath(mainScript) : undefined;
  if (!main) return 'anbox-oob';
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'anbox-oob');
    try {
      accessSync(candidate, fsConstants.X_OK);
    } catch {
      continue;
    }
    if (safeRealpath(candidate) === main) return 'anbox-oob';
  }
  const from = env.INIT_CWD && isAbsolute(env.INIT_CWD) ? env.INIT_CWD : cwd;
  const path = relative(safeRealpath(from) ?? from, main);
  return `node ${path.startsWith('..') || isAbsolute(path) ? main : path}`;
}

function safeRealpath(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}
