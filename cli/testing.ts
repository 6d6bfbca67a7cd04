// For the CLI's tests: run the `weft` program in this process, capturing what it prints and
// the exit code it sets.
import { buildProgram } from '#cli/weft.ts';

export async function runWeft(...args: string[]): Promise<{ out: string; code: number }> {
  let out = '';
  process.exitCode = 0;
  await buildProgram((s) => { out += s; }).exitOverride().parseAsync(['node', 'weft', ...args]);
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { out, code };
}
