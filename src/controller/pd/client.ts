// One cluster's PD as two objects: what the operator reads, and what it changes. Kept apart
// so that the writes can be guarded as a whole (no writes once leadership is lost) while
// reads go on. How PD is reached is the PDTransport (transport.ts), the only seam.
import { type PDClientOptions, PDHttp } from './http.js';
import { PDReadClient, type PDReads } from './reads.js';
import type { PDTransport } from './transport.js';
import { PDWriteClient, type PDWrites } from './writes.js';

export interface PDClient {
  reads: PDReads;
  writes: PDWrites;
}

/** Reads and writes of the PD behind `transport`, sharing its options (timeout, metrics hook). */
export function pdClient(transport: PDTransport, options: PDClientOptions = {}): PDClient {
  const http = new PDHttp(transport, options);
  return { reads: new PDReadClient(http), writes: new PDWriteClient(http) };
}

export type { PDClientOptions } from './http.js';
export { DEFAULT_PD_TIMEOUT_MS, routeOf } from './http.js';
export * from './reads.js';
export type { PDRequestInit, PDTransport } from './transport.js';
export { directTransport, serviceProxyPath, serviceProxyTransport } from './transport.js';
export * from './writes.js';
