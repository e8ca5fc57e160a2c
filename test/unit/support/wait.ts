import { vi } from 'vitest';

/**
 * vi.waitFor with a bound that suits a loaded 2-core CI machine. vitest's default (1 s) is a
 * timing assertion in disguise: a handover that takes 1.2 s under load is not a bug.
 */
export function waitFor<T>(callback: () => T | Promise<T>, options: { timeout?: number; interval?: number } = {}): Promise<T> {
  return vi.waitFor(callback, { timeout: 15_000, interval: 20, ...options });
}
