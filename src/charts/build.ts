// The cdk8s-plus-28 part: everything plus-28 expresses correctly. What it cannot express
// (or expresses with unsafe defaults) is fixed afterwards on the plain objects, in
// undo-plus28-defaults.ts.
import { type Chart, Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { CONFIG_HASH_ANNOTATION, PROMETHEUS_ANNOTATIONS, selectorLabels } from './labels.js';
import type { ComponentModel } from './model.js';

// Construct ids. They feed plus-28's `cdk8s.io/metadata.addr` label, which undo-plus28-defaults.ts
// strips everywhere, so the output does not depend on them; they stay fixed anyway.
export const CONSTRUCT_IDS = {
  chart: 'tikv-cluster',
  configMap: (c: string) => `${c}-config`,
  service: (c: string, i: number) => `${c}-service-${i}`,
  configVolume: (c: string) => `${c}-config-volume`,
  statefulSet: (c: string) => `${c}-statefulset`,
} as const;

const PULL_POLICY: Record<string, kplus.ImagePullPolicy> = {
  Always: kplus.ImagePullPolicy.ALWAYS,
  IfNotPresent: kplus.ImagePullPolicy.IF_NOT_PRESENT,
  Never: kplus.ImagePullPolicy.NEVER,
};

export function addComponent(chart: Chart, model: ComponentModel, clusterName: string, imagePullPolicy: string): void {
  const c = model.component;
  const labels = selectorLabels(clusterName, c);

  const configMap = new kplus.ConfigMap(chart, CONSTRUCT_IDS.configMap(c), {
    metadata: { name: model.configMap.name, labels },
    data: model.configMap.data,
  });

  const services = model.services.map(
    (svc, i) =>
      new kplus.Service(chart, CONSTRUCT_IDS.service(c, i), {
        metadata: { name: svc.name, labels },
        ...(svc.headless ? { clusterIP: 'None', publishNotReadyAddresses: true } : { type: kplus.ServiceType.CLUSTER_IP }),
        ports: svc.ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.port })),
      }),
  );
  const peerService = services.find((_, i) => model.services[i]?.name === model.statefulSet.serviceName);
  if (!peerService) throw new Error(`no Service named ${model.statefulSet.serviceName} for the ${c} StatefulSet`);

  const s = model.statefulSet;
  const configVolume = kplus.Volume.fromConfigMap(chart, CONSTRUCT_IDS.configVolume(c), configMap, { name: 'config' });
  const sts = new kplus.StatefulSet(chart, CONSTRUCT_IDS.statefulSet(c), {
    metadata: { name: s.name, labels },
    service: peerService,
    select: false,
    replicas: model.spec.replicas,
    podManagementPolicy: kplus.PodManagementPolicy.PARALLEL,
    strategy: kplus.StatefulSetUpdateStrategy.rollingUpdate({ partition: s.partition }),
    automountServiceAccountToken: false,
    containers: [
      {
        name: c,
        image: model.image,
        imagePullPolicy: PULL_POLICY[imagePullPolicy] ?? kplus.ImagePullPolicy.IF_NOT_PRESENT,
        command: s.command,
        ...(s.args.length ? { args: s.args } : {}),
        // `ports`, not `portNumber`: plus-28 derives a startup probe from portNumber.
        ports: s.containerPorts.map((p) => ({ name: p.name, number: p.port })),
        envVariables: { POD_NAME: kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.POD_NAME) },
        readiness: s.readiness.httpPath
          ? // etcd's /health does a linearizable read; 1 s (the default) flaps on a loaded kind node.
            kplus.Probe.fromHttpGet(s.readiness.httpPath, { port: s.readiness.port, timeoutSeconds: Duration.seconds(3) })
          : kplus.Probe.fromTcpSocket({ port: s.readiness.port }),
        volumeMounts: [{ path: model.configMap.mountPath, volume: configVolume, readOnly: true }],
      },
    ],
  });
  sts.select(kplus.LabelSelector.of({ labels }));
  for (const [k, v] of Object.entries(labels)) sts.podMetadata.addLabel(k, v);
  sts.podMetadata.addAnnotation(PROMETHEUS_ANNOTATIONS.scrape, 'true');
  sts.podMetadata.addAnnotation(PROMETHEUS_ANNOTATIONS.port, String(s.metricsPort));
  sts.podMetadata.addAnnotation(PROMETHEUS_ANNOTATIONS.path, '/metrics');
  sts.podMetadata.addAnnotation(CONFIG_HASH_ANNOTATION, s.configHash);
}
