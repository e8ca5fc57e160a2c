import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TikvClusterStatus } from '../../../src/api/v1alpha1.js';
import { compareIds } from '../../../src/controller/pd/client.js';
import { statusEqual } from '../../../src/controller/status/equal.js';

describe('compareIds', () => {
  it('orders decimal ids like the integers they are, beyond 2^53 too', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (a, b) => {
        expect(Math.sign(compareIds(a.toString(), b.toString()))).toBe(a < b ? -1 : a > b ? 1 : 0);
      }),
    );
  });
});

describe('statusEqual', () => {
  const store = fc.record({
    id: fc.bigInt({ min: 1n, max: 10n ** 12n }).map(String),
    address: fc.string(),
    state: fc.constantFrom('Up', 'Disconnected', 'Down', 'Offline', 'Tombstone'),
    leaderCount: fc.nat(),
  });

  it('does not depend on the order of stores or of object keys', () => {
    fc.assert(
      fc.property(fc.uniqueArray(store, { selector: (s) => s.id, maxLength: 6 }), fc.string(), (stores, clusterID) => {
        const a: TikvClusterStatus = { clusterID, tikv: { stores } };
        const reversedKeys = Object.fromEntries(Object.entries({ tikv: { stores: [...stores].reverse().map(reverseKeys) }, clusterID }));
        expect(statusEqual(a, reversedKeys as TikvClusterStatus)).toBe(true);
      }),
    );
  });
});

const reverseKeys = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).reverse()) as T;
