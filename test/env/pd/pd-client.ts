// The operator's own PD reads and writes (src/controller/pd) as one object, for tests that
// drive a PD the way the operator does: read it, and change it, through the same client.
import { type PDClientOptions, type PDReads, type PDTransport, type PDWrites, pdClient } from '../../../src/controller/pd/client.js';

export type PDCalls = PDReads & PDWrites;

/** Every method of `o` (a class instance: its methods sit on the prototype), bound to it. */
function methodsOf(o: object): Record<string, unknown> {
  const proto = Object.getPrototypeOf(o) as Record<string, unknown>;
  return Object.fromEntries(
    Object.getOwnPropertyNames(proto)
      .filter((k) => k !== 'constructor' && typeof proto[k] === 'function')
      .map((k) => [k, (proto[k] as (...a: unknown[]) => unknown).bind(o)]),
  );
}

export function pdCalls(transport: PDTransport, options?: PDClientOptions): PDCalls {
  const { reads, writes } = pdClient(transport, options);
  return { ...methodsOf(reads), ...methodsOf(writes) } as unknown as PDCalls;
}
