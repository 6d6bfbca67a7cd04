// Start-up flags and their environment twins, as every weft process reads them: a flag wins
// over its variable, an empty variable counts as unset, and a bad flag is refused with the
// list of good ones.
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';

export type FlagReader<K extends string> = (k: K) => string | undefined;

export function readFlags<O extends ParseArgsOptionsConfig>(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  options: O,
  envNames: Readonly<Record<keyof O & string, string>>,
  bad: (message: string, hint?: string) => Error,
): FlagReader<keyof O & string> {
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw bad(err instanceof Error ? err.message : String(err), `flags: ${Object.keys(options).map((k) => `--${k}`).join(' ')}`);
  }
  return (k) => {
    const v = values[k];
    if (typeof v === 'string') return v;
    if (v === true) return 'true';
    const e = env[envNames[k]];
    return e === undefined || e === '' ? undefined : e;
  };
}
