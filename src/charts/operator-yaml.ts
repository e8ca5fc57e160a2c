import { stringify } from 'yaml';
import { synthesizeOperator } from './operator.js';

export const DEPLOY_FILE = 'deploy/tikv-operator.yaml';

export function renderOperatorYaml(): string {
  const docs = synthesizeOperator().map((o) => stringify(o, { version: '1.1', lineWidth: 0 }));
  return `# Generated from src/charts/operator.ts by \`npm run gen:deploy\`. Do not edit by hand.\n${docs.join('---\n')}`;
}
