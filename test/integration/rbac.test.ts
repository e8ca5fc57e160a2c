// The deploy/ RBAC as the apiserver evaluates it for the operator's ServiceAccount: what
// the operator needs is allowed (including the PD calls it proxies when running outside
// the cluster) and what it must never do is refused.
import { AuthorizationV1Api } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { OPERATOR_NAME, OPERATOR_NAMESPACE } from '../../src/charts/operator.js';
import { createServiceAccountKubeconfig } from '../env/context.js';
import { installOperatorPrerequisites } from './support/operator.js';

type Check = [verb: string, group: string, resource: string, subresource?: string];

describe('operator RBAC (deploy/)', () => {
  it('allows exactly what the operator does and refuses the rest', async () => {
    await installOperatorPrerequisites();
    const sa = await createServiceAccountKubeconfig(OPERATOR_NAMESPACE, OPERATOR_NAME);
    const authz = sa.kc.makeApiClient(AuthorizationV1Api);
    const can = async ([verb, group, resource, subresource]: Check, namespace = 'some-namespace') => {
      const review = await authz.createSelfSubjectAccessReview({
        body: { spec: { resourceAttributes: { verb, group, resource, subresource, namespace } } },
      });
      return review.status?.allowed === true;
    };
    const allowed: Check[] = [
      ['watch', 'tikv.org', 'tikvclusters'],
      ['patch', 'tikv.org', 'tikvclusters', 'status'],
      ['patch', 'apps', 'statefulsets'],
      ['patch', '', 'configmaps'],
      ['list', '', 'pods'],
      ['create', '', 'events'],
      ['delete', '', 'persistentvolumeclaims'],
      ['patch', '', 'persistentvolumeclaims'],
      // admission removes a pod's scheduling gate; a never-registered incarnation is deleted
      ['patch', '', 'pods'],
      ['delete', '', 'pods'],
      // the one-off pod that runs pd-server/tikv-server --config-check on a changed config
      ['create', '', 'pods'],
      ['get', '', 'services', 'proxy'],
      ['create', '', 'services', 'proxy'],
      ['delete', '', 'services', 'proxy'],
    ];
    const refused: Check[] = [
      ['delete', 'apps', 'statefulsets'],
      ['deletecollection', '', 'pods'],
      ['list', '', 'persistentvolumeclaims'],
      ['get', '', 'secrets'],
      ['patch', 'tikv.org', 'tikvclusters'],
      ['update', 'coordination.k8s.io', 'leases'],
    ];
    for (const c of allowed) expect(await can(c), `may ${c.join(' ')}`).toBe(true);
    for (const c of refused) expect(await can(c), `may not ${c.join(' ')}`).toBe(false);
    expect(await can(['update', 'coordination.k8s.io', 'leases'], OPERATOR_NAMESPACE), 'its own Lease').toBe(true);
  });
});
