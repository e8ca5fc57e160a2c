// `npm run kind:up` / `npm run kind:down`: a kind cluster "tikv" running the operator
// built from this checkout and the 3 PD + 3 TiKV example, or none of it. See
// scripts/kind-lib.ts for what each step runs; both commands are safe to repeat.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kindDown, kindUp, MissingToolsError, systemRunner } from './kind-lib.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const USAGE = 'Usage: tsx scripts/kind.ts up|down   (npm run kind:up, npm run kind:down)\n';

async function main(argv: string[]): Promise<number> {
  const command = argv[0];
  const o = { runner: systemRunner(ROOT), root: ROOT, log: (line: string) => process.stdout.write(`${line}\n`) };
  try {
    if (command === 'up') await kindUp(o);
    else if (command === 'down') await kindDown(o);
    else {
      process.stderr.write(USAGE);
      return 2;
    }
    return 0;
  } catch (e) {
    process.stderr.write(`\nkind:${command}: ${(e as Error).message}\n`);
    return e instanceof MissingToolsError ? 127 : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
