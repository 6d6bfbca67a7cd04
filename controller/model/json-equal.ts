// Structural equality of JSON data, used to tell a rebuilt resource from an unchanged one:
// the model is rebuilt from scratch on every change, so equal content arrives as new objects.

/** Structural equality of JSON data (objects, arrays, strings, numbers, booleans, null). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) {
      const x: unknown = a[i];
      const y: unknown = b[i];
      if (x !== y && (typeof x !== 'object' || !jsonEqual(x, y))) return false;
    }
    return true;
  }
  if (Array.isArray(b)) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const ak = Object.keys(ra);
  const bk = Object.keys(rb);
  if (ak.length !== bk.length) return false;
  for (let i = 0; i < ak.length; i++) {
    const k = ak[i] as string;
    // Objects from the same builder list their keys in the same order: skip the lookup then.
    if (k !== bk[i] && !Object.hasOwn(rb, k)) return false;
    const x = ra[k];
    const y = rb[k];
    // Most fields are equal strings or numbers: settle those without a call.
    if (x !== y && (typeof x !== 'object' || !jsonEqual(x, y))) return false;
  }
  return true;
}
