// Reads Istio's StringMatch (one of exact / prefix / suffix / presence) off the wire; shared by
// the L4 and L7 policy validators.
import { FieldError, obj, str } from './fields.ts';
import type { StringMatch } from './model.ts';

export function parseStringMatch(v: unknown, path: string): StringMatch {
  const o = obj(v, path);
  const keys = Object.keys(o);
  if (keys.length !== 1) throw new FieldError(path, 'must have exactly one of exact, prefix, suffix, presence');
  if ('exact' in o) return { exact: str(o, 'exact', path, { empty: true }) };
  if ('prefix' in o) return { prefix: str(o, 'prefix', path, { empty: true }) };
  if ('suffix' in o) return { suffix: str(o, 'suffix', path, { empty: true }) };
  if ('presence' in o) {
    if (o['presence'] !== true) throw new FieldError(`${path}.presence`, 'must be true');
    return { presence: true };
  }
  throw new FieldError(path, 'must have exactly one of exact, prefix, suffix, presence');
}
