// Writes deploy/tikv-operator.yaml (the operator's in-cluster manifests, src/charts/operator.ts).
import { writeFileSync } from 'node:fs';
import { DEPLOY_FILE, renderOperatorYaml } from '../src/charts/operator-yaml.js';

writeFileSync(DEPLOY_FILE, renderOperatorYaml());
console.log(`wrote ${DEPLOY_FILE}`);
