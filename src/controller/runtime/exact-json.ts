// JSON from the API server with every integer exact. The apiserver keeps integers up to
// 2^63 as written (a TikvCluster's spec.*.config value 9007199254740993 comes back as
// such); JSON.parse would round it to a double. Integers beyond 2^53 become bigints,
// everything else is what JSON.parse gives.
import { parse } from 'lossless-json';

/**
 * lossless-json parses recursively and overflows the stack on a few thousand levels of
 * nesting, which the apiserver accepts (its limit is 10,000). So the text is scanned first,
 * without recursion, and only parsed losslessly when it both needs it and is shallow enough.
 * A deeper document is parsed by JSON.parse (which does not recurse): such nesting is
 * refused by validation anyway, so its rounded integers never reach a config file.
 */
export const LOSSLESS_MAX_DEPTH = 500;

/** Integers of 16 or more digits may exceed 2^53; shorter ones never do. */
const LONG_INTEGER = /^-?[0-9]{16,}$/;
const NUMBER_CHARS = /[-+0-9.eE]/;

/** Nesting depth and whether any number token is a long integer, in one pass. */
function scan(text: string): { depth: number; longIntegers: boolean } {
  let depth = 0;
  let maxDepth = 0;
  let longIntegers = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '"') {
      // Skip the string, honouring escapes.
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
    } else if (c === '{' || c === '[') {
      depth++;
      if (depth > maxDepth) maxDepth = depth;
    } else if (c === '}' || c === ']') {
      depth--;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      let j = i + 1;
      while (j < text.length && NUMBER_CHARS.test(text[j] as string)) j++;
      if (!longIntegers && LONG_INTEGER.test(text.slice(i, j))) longIntegers = true;
      i = j - 1;
    }
  }
  return { depth: maxDepth, longIntegers };
}

function exactNumber(token: string): number | bigint {
  const n = Number(token);
  return /^-?[0-9]+$/.test(token) && !Number.isSafeInteger(n) ? BigInt(token) : n;
}

export function parseExactJSON(text: string): unknown {
  const { depth, longIntegers } = scan(text);
  if (!longIntegers || depth > LOSSLESS_MAX_DEPTH) return JSON.parse(text);
  return parse(text, null, exactNumber);
}
