// Writes crds/tikv.org_tikvclusters.yaml from the zod schema (see src/api/crd.ts).
import { writeFileSync } from 'node:fs';
import { CRD_FILE, renderCRDYaml } from '../src/api/crd.js';

writeFileSync(CRD_FILE, renderCRDYaml());
console.log(`wrote ${CRD_FILE}`);
