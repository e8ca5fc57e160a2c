// The User-Agent of every request the operator makes (API server and PD), so audit logs
// and PD's logs can tell its requests from anyone else's, as client-go's
// "<binary>/<version> (<os>/<arch>)" does. Without it Node sends none at all.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The version in the operator's package.json: two levels up from src/ under tsx, three from dist/src/ once built. */
function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tikv-operator' && pkg.version) return pkg.version;
    } catch {
      // no package.json here: look further up
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

export const OPERATOR_VERSION = packageVersion();
export const USER_AGENT = `tikv-operator/${OPERATOR_VERSION} (${process.platform}/${process.arch}) node/${process.version}`;
