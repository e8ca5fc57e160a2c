// Why a PD or TiKV pod does not run, in the TikvCluster where users look (`kubectl get tkc`,
// `kubectl describe tkc`) instead of in pod events and logs: a wrong image tag
// (ErrImagePull/ImagePullBackOff), a request no node can hold (Unschedulable), a container
// that keeps dying (CrashLoopBackOff, with its last words: the charts set
// terminationMessagePolicy FallbackToLogsOnError), a container the kubelet cannot create.
// Pure: the pods in, the PodsHealthy condition and the Warning Events of new failures out.
// It reads of a Pod what src/controller/cache.ts keeps for it (kube/objects.ts LivePod).
import type { ContainerStatus, LivePod } from '../kube/objects.js';
import type { ConditionState } from '../status/conditions.js';

/** The condition type this file derives (positive polarity: True while no pod fails). */
export const PODS_HEALTHY = 'PodsHealthy';
export const PODS_RUNNING_REASON = 'PodsRunning';

export interface PodFailure {
  pod: string;
  /** The container, where one is to blame (none for Unschedulable). */
  container?: string;
  /** The kubelet's or the scheduler's reason, or InitFailed for an init container. */
  reason: string;
  message: string;
}

/** Waiting reasons that mean "this container will not run as it is" (not ContainerCreating, PodInitializing). */
const FAILING_WAIT = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrImageNeverPull',
  'CrashLoopBackOff',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
]);
/** Which failure names the condition when several pods fail: what a user fixes first. */
const PRIORITY = ['InvalidImageName', 'ErrImageNeverPull', 'ErrImagePull', 'ImagePullBackOff', 'Unschedulable', 'InitFailed', 'CrashLoopBackOff'];

/** The container's last words, on one line: its termination message (or log tail) is up to 80 lines. */
export function lastWords(text: string | undefined, max = 300): string {
  const lines = (text ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  let out = '';
  for (const l of lines.reverse()) {
    const next = out ? `${l} | ${out}` : l;
    if (next.length > max) break;
    out = next;
  }
  if (!out && lines[0]) out = `…${lines[0].slice(-(max - 1))}`;
  // "; " separates failures in the condition message.
  return out.replaceAll('; ', ', ');
}

const oneLine = (s: string | undefined) => (s ?? '').replace(/\s+/g, ' ').trim().replaceAll('; ', ', ');

function exited(t: { exitCode?: number; reason?: string; message?: string }): string {
  const words = lastWords(t.message);
  return `exited ${t.exitCode ?? '?'}${t.reason ? ` (${t.reason})` : ''}${words ? `: ${words}` : ''}`;
}

function containerFailure(pod: string, c: ContainerStatus, init: boolean): PodFailure | undefined {
  const waiting = c.state?.waiting;
  const last = c.lastState?.terminated;
  if (waiting?.reason && FAILING_WAIT.has(waiting.reason)) {
    if (waiting.reason === 'CrashLoopBackOff') {
      const why = last ? exited(last) : oneLine(waiting.message);
      return { pod, container: c.name, reason: init ? 'InitFailed' : 'CrashLoopBackOff', message: `restarted ${c.restartCount ?? 0} times, ${why}` };
    }
    return { pod, container: c.name, reason: waiting.reason, message: oneLine(waiting.message) || waiting.reason };
  }
  // An init container that failed and is about to run again (restartPolicy Always shows it waiting; Never, terminated).
  const term = c.state?.terminated;
  if (init && term && (term.exitCode ?? 0) !== 0) return { pod, container: c.name, reason: 'InitFailed', message: exited(term) };
  return undefined;
}

/** The failures of these pods, one per pod at most (the first container to blame), in pod-name order. */
export function podFailures(pods: readonly LivePod[]): PodFailure[] {
  const out: PodFailure[] = [];
  for (const p of [...pods].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name, 'en', { numeric: true }))) {
    if (p.metadata.deletionTimestamp) continue;
    const name = p.metadata.name;
    // A pod the operator still gates (schedulingGates) is waiting for the operator, not failing.
    const scheduled = p.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (p.status?.phase === 'Pending' && scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
      out.push({ pod: name, reason: 'Unschedulable', message: oneLine(scheduled.message) || 'no node can run it' });
      continue;
    }
    const failure =
      (p.status?.initContainerStatuses ?? []).map((c) => containerFailure(name, c, true)).find((f) => f !== undefined) ??
      (p.status?.containerStatuses ?? []).map((c) => containerFailure(name, c, false)).find((f) => f !== undefined);
    if (failure) out.push(failure);
  }
  return out;
}

const entry = (f: PodFailure) => `${f.pod}${f.container ? ` (${f.container})` : ''} ${f.reason}: ${f.message}`;
const ENTRY = /^(\S+)(?: \((\S+)\))? (\w+): /;

/** The PodsHealthy condition: False naming every failing pod (the most actionable reason first), True otherwise. */
export function podsHealthy(failures: readonly PodFailure[]): ConditionState {
  if (failures.length === 0) return { status: 'True', reason: PODS_RUNNING_REASON, message: 'no PD or TiKV pod is failing to start or run' };
  const rank = (r: string) => (PRIORITY.includes(r) ? PRIORITY.indexOf(r) : PRIORITY.length);
  const ordered = [...failures].sort((a, b) => rank(a.reason) - rank(b.reason));
  return { status: 'False', reason: ordered[0]!.reason, message: ordered.map(entry).join('; ') };
}

/** `pod reason` pairs a PodsHealthy message lists. */
function listedFailures(message: string | undefined): Set<string> {
  const out = new Set<string>();
  for (const part of (message ?? '').split('; ')) {
    const m = ENTRY.exec(part);
    if (m) out.add(`${m[1]} ${m[3]}`);
  }
  return out;
}

/**
 * The failures to announce as Warning Events: those the previous PodsHealthy condition did
 * not list (a pod that starts failing, or fails for another reason), so a pod in back-off
 * is one Event per transition, not one per reconcile.
 */
export function newFailures(prev: { status?: string; message?: string } | undefined, failures: readonly PodFailure[]): Array<{ reason: string; message: string }> {
  const before = prev?.status === 'False' ? listedFailures(prev.message) : new Set<string>();
  return failures
    .filter((f) => !before.has(`${f.pod} ${f.reason}`))
    .map((f) => ({ reason: f.reason, message: entry(f) }));
}
