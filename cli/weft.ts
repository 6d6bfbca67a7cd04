#!/usr/bin/env node
// The `weft` command: look at a running mesh (workloads, status), check manifests before
// applying them, and start the demo.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { errorMessage } from '#core/errors.ts';
import { Ports } from '#core/ports.ts';
import { analyzeManifests, formatAnalysis } from '#cli/analyze.ts';
import { formatStatus, formatWorkloads } from '#cli/format.ts';

const DEMO = fileURLToPath(new URL('../local/demo.ts', import.meta.url));

async function getJson(url: string): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (err) {
    throw new Error(`cannot reach ${url}: ${errorMessage(err)} (is the controller running? its admin address is printed by the demo)`, { cause: err });
  }
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  const body: unknown = await res.json();
  return body;
}

export function buildProgram(out: (s: string) => void = (s) => process.stdout.write(s)): Command {
  const program = new Command('weft').description('weft, an ambient service mesh').showHelpAfterError();
  const controller = new Option('--controller <url>', 'controller admin URL').default(`http://127.0.0.1:${Ports.controllerDashboard}`);

  program.command('analyze')
    .description('check manifests offline: what the controller would reject, and why')
    .argument('<dirs...>', 'folders (or files\' folders) of Kubernetes YAML')
    .action(async (dirs: string[]) => {
      const analysis = await analyzeManifests(dirs);
      out(formatAnalysis(analysis));
      if (analysis.problems > 0) process.exitCode = 1;
    });

  program.command('workloads')
    .description('workloads the controller knows, with their mesh protocol and node')
    .addOption(controller)
    .action(async (opts: { controller: string }) => {
      out(formatWorkloads(await getJson(`${opts.controller}/debug/model`)));
    });

  program.command('status')
    .description('conditions the controller reports on your objects (rejected policies, missing waypoints, ...)')
    .addOption(controller)
    .action(async (opts: { controller: string }) => {
      out(formatStatus(await getJson(`${opts.controller}/status`)));
    });

  program.command('demo')
    .description('the guided tour on the embedded cluster (root)')
    .action(async () => {
      const child = spawn(process.execPath, [DEMO], { stdio: 'inherit' });
      await new Promise<void>((resolve) => child.on('exit', (code) => { process.exitCode = code ?? 1; resolve(); }));
    });
  return program;
}

if (import.meta.main) {
  buildProgram().parseAsync(process.argv).catch((err: unknown) => {
    process.stderr.write(`weft: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  });
}
