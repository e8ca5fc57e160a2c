#!/usr/bin/env node
// Entry point: `tikv-operator <command>`. Commands are imported lazily so `synth` never
// loads the Kubernetes client.

const USAGE = `Usage: tikv-operator <command> [options]

Commands:
  synth   Render TikvCluster YAML into Kubernetes manifests (see: synth --help)
  run     Run the operator against the current kubeconfig context
  status  Show a TikvCluster at a glance: PD members, stores, pods and nodes, conditions (see: status --help)
`;

/** What src/cli/run.ts is expected to export. */
interface ControllerEntry {
  main(argv: string[]): Promise<number | undefined> | Promise<void>;
}

// A non-literal specifier keeps the controller (and @kubernetes/client-node) out of the
// module graph until `run` is asked for.
const CONTROLLER_MODULE = './cli/run.js';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'synth': {
      const { runSynth } = await import('./cli/synth.js');
      return runSynth(rest, { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) });
    }
    case 'status': {
      const { runStatus } = await import('./cli/status.js');
      return runStatus(rest, { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) });
    }
    case 'run': {
      const controller = (await import(CONTROLLER_MODULE)) as ControllerEntry;
      return (await controller.main(rest)) ?? 0;
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return command === undefined ? 1 : 0;
    default:
      process.stderr.write(`tikv-operator: unknown command "${command}"\n\n${USAGE}`);
      return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
