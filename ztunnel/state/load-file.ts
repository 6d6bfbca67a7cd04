// Local config for standalone runs and tests: a JSON file `{ "resources": Resource[] }`
// applied as one snapshot, with the same validation as pushed config.
import { readFile } from 'node:fs/promises';
import { WeftError, errorMessage } from '#core/errors.ts';
import type { ProxyState, Rejection } from '#ztunnel/state/proxy-state.ts';

/** Reads the file's resources (unvalidated: applyUpdate validates each one). */
export async function loadConfigFile(path: string): Promise<unknown[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new WeftError('WEFT_ERR_CONFIG_FILE', `cannot read config file ${path}: ${errorMessage(err)}`, {
      hint: 'the file must be JSON of the form { "resources": [...] }', cause: err,
    });
  }
  const resources = typeof parsed === 'object' && parsed !== null ? (parsed as { resources?: unknown }).resources : undefined;
  if (!Array.isArray(resources)) {
    throw new WeftError('WEFT_ERR_CONFIG_FILE', `config file ${path} has no "resources" list`, { hint: 'expected { "resources": [...] }' });
  }
  return resources as unknown[];
}

/** Loads a config file into the state as a snapshot; returns what was rejected. */
export async function applyConfigFile(state: ProxyState, path: string, version = `file:${Date.now()}`): Promise<Rejection[]> {
  const resources = await loadConfigFile(path);
  return state.applyUpdate({ snapshot: true, version, updated: resources, removed: [] }).rejected;
}
