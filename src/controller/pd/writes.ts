// The PD calls that change a cluster: scale-in steps, cancelling a removal, and the leader
// moves of a rolling update. Each answers whether PD did it or says the target is gone;
// anything else is a PDError.

import { isSuccess, type PDClientOptions, PDHttp } from './http.js';
import { pdAnswer, pdErrorFromResponse } from './json.js';
import { EVICT_LEADER_SCHEDULER } from './reads.js';
import type { PDTransport } from './transport.js';

export interface PDWrites {
  /**
   * DELETE /pd/api/v1/store/{id}: asks PD to take the store offline (PD moves its regions
   * away, then makes it a Tombstone). `gone` only when PD itself says it does not know the
   * store (404 ErrStoreNotFound) or has removed it (410 ErrStoreRemoved); any other 404, say
   * the API server's proxy not finding the Service, is an error.
   */
  deleteStore(id: string): Promise<'offline' | 'gone'>;
  /**
   * POST /pd/api/v1/store/{id}/state?state=Up: cancels a removal while the store is still
   * Offline (node_state Removing). PD refuses once it is a Tombstone; that is an error.
   */
  cancelStoreRemoval(id: string): Promise<void>;
  /** DELETE /pd/api/v1/members/name/{name}; `gone` when PD says it is not a member (404 "not found, pd: <name>"). */
  deleteMember(name: string): Promise<'removed' | 'gone'>;
  /** POST /pd/api/v1/leader/transfer/{name}; asynchronous, poll the leader. */
  transferLeader(name: string): Promise<void>;
  /**
   * POST /pd/api/v1/schedulers {"name":"evict-leader-scheduler","store_id":<id>}: PD moves
   * the store's Raft leaders away. Adds the store to the one scheduler if it exists.
   */
  evictLeader(storeId: string): Promise<void>;
  /** DELETE /pd/api/v1/schedulers/evict-leader-scheduler-{id}; `gone` when PD says it was not evicted. */
  removeEvictLeader(storeId: string): Promise<'removed' | 'gone'>;
}

/** A store id as PD's paths and bodies need it; anything else would be a malformed request. */
function decimalId(id: string): string {
  if (!/^\d+$/.test(id)) throw new Error(`not a PD store id: ${JSON.stringify(id)}`);
  return id;
}

type Gone = Array<{ status: number; pd: (body: string) => boolean }>;

export class PDWriteClient implements PDWrites {
  constructor(private readonly http: PDHttp) {}

  async deleteStore(id: string): Promise<'offline' | 'gone'> {
    const gone = await this.writeUnlessGone('DELETE', `/pd/api/v1/store/${encodeURIComponent(id)}`, [
      { status: 404, pd: (b) => pdAnswer.says(b, /ErrStoreNotFound|^store \d+ not found/) },
      { status: 410, pd: (b) => pdAnswer.says(b, /ErrStoreRemoved|ErrStoreTombstone|has been removed/) },
    ]);
    return gone ? 'gone' : 'offline';
  }

  async cancelStoreRemoval(id: string): Promise<void> {
    await this.write('POST', `/pd/api/v1/store/${encodeURIComponent(id)}/state?state=Up`);
  }

  async deleteMember(name: string): Promise<'removed' | 'gone'> {
    const gone = await this.writeUnlessGone('DELETE', `/pd/api/v1/members/name/${encodeURIComponent(name)}`, [
      { status: 404, pd: (b) => pdAnswer.says(b, /^not found, pd: /) },
    ]);
    return gone ? 'gone' : 'removed';
  }

  async transferLeader(name: string): Promise<void> {
    await this.write('POST', `/pd/api/v1/leader/transfer/${encodeURIComponent(name)}`);
  }

  async evictLeader(storeId: string): Promise<void> {
    // PD decodes store_id as a JSON number (a string is "missing store id"); written as
    // text so an id above 2^53 stays exact.
    const id = decimalId(storeId);
    await this.write('POST', '/pd/api/v1/schedulers', `{"name":"${EVICT_LEADER_SCHEDULER}","store_id":${id}}`);
  }

  async removeEvictLeader(storeId: string): Promise<'removed' | 'gone'> {
    // PD forwards this to .../scheduler-config/evict-leader-scheduler/delete/{id} and passes
    // that status on with a `null` body; a PD that answers itself gives its error string.
    const gone = await this.writeUnlessGone('DELETE', `/pd/api/v1/schedulers/${EVICT_LEADER_SCHEDULER}-${decimalId(storeId)}`, [
      { status: 404, pd: (b) => pdAnswer.isNull(b) || pdAnswer.isNotFoundPage(b) || pdAnswer.says(b, /\[PD:/) },
    ]);
    return gone ? 'gone' : 'removed';
  }

  /** A write; a non-2xx answer is an error. */
  private async write(method: string, path: string, requestBody?: string): Promise<void> {
    const { status, body } = await this.http.send(method, path, requestBody);
    if (!isSuccess(status)) throw pdErrorFromResponse(method, path, status, body);
  }

  /**
   * A write whose target may already be gone: true when PD itself says so (a status and a
   * body that is PD's, see pdAnswer), false on success; anything else is an error. Through
   * the service proxy a 404 may be the API server's, which says nothing about PD's state.
   */
  private async writeUnlessGone(method: string, path: string, gone: Gone): Promise<boolean> {
    const { status, body } = await this.http.send(method, path);
    if (isSuccess(status)) return false;
    if (gone.some((g) => g.status === status && g.pd(body))) return true;
    throw pdErrorFromResponse(method, path, status, body);
  }
}

/** The writes of the PD behind `transport`. */
export const pdWrites = (transport: PDTransport, options: PDClientOptions = {}): PDWrites => new PDWriteClient(new PDHttp(transport, options));
