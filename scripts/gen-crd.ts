// Writes crds/tikv.org_tikvclusters.yaml from the zod schema (see src/api/crd.ts), and the
// ValidatingAdmissionPolicy for operator-owned config keys beside it.
import { writeFileSync } from 'node:fs';
import { CONFIG_POLICY_FILE, CRD_FILE, renderConfigPolicyYaml, renderCRDYaml } from '../src/api/crd.js';

writeFileSync(CRD_FILE, renderCRDYaml());
console.log(`wrote ${CRD_FILE}`);
writeFileSync(CONFIG_POLICY_FILE, renderConfigPolicyYaml());
console.log(`wrote ${CONFIG_POLICY_FILE}`);
