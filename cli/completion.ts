// `weft completion bash|zsh`: a shell completion script drawn from the commander program itself,
// so a new command or option completes without touching this file. The script carries the
// tree as data (command path → words, option → choices) in a shell function both shells run;
// bash wires it with `complete -F`, zsh with `compdef`.
import type { Command, Option } from 'commander';

export const COMPLETION_SHELLS = ['bash', 'zsh'] as const;
export type CompletionShell = (typeof COMPLETION_SHELLS)[number];

interface Node {
  path: string;
  words: string[];
  choices: { flags: string[]; values: readonly string[] }[];
}

function flagsOf(o: Option): string[] {
  return [o.short, o.long].filter((f): f is string => f !== undefined);
}

function walk(cmd: Command, path: string, out: Node[]): void {
  const subs = cmd.commands.filter((c) => c.name() !== 'help');
  const options = cmd.options;
  out.push({
    path,
    words: [...subs.map((c) => c.name()), ...cmd.registeredArguments.flatMap((a) => a.argChoices ?? []), ...options.flatMap(flagsOf), '--help'],
    choices: options.filter((o) => Array.isArray(o.argChoices) && o.argChoices.length > 0).map((o) => ({ flags: flagsOf(o), values: o.argChoices ?? [] })),
  });
  for (const c of subs) walk(c, path === '' ? c.name() : `${path} ${c.name()}`, out);
}

/** Single-quoted for both shells. */
const quote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;

function dataFunctions(name: string, nodes: readonly Node[]): string {
  const words = nodes.map((n) => `    ${quote(n.path)}) echo ${quote(n.words.join(' '))} ;;`).join('\n');
  const choices = nodes.flatMap((n) => n.choices.map((c) => `    ${quote(n.path)}:${c.flags.map(quote).join(`|${quote(n.path)}:`)}) echo ${quote(c.values.join(' '))} ;;`)).join('\n');
  return `__${name}_words() {
  case "$1" in
${words}
  esac
}
__${name}_choices() {
  case "$1:$2" in
${choices}
  esac
}
# The deepest command path the words typed so far name.
__${name}_path() {
  local at="" w next
  for w in "$@"; do
    case "$w" in -*) continue ;; esac
    if [ -z "$at" ]; then next="$w"; else next="$at $w"; fi
    if [ -n "$(__${name}_words "$next")" ]; then at="$next"; fi
  done
  printf '%s' "$at"
}
`;
}

export function completionScript(program: Command, shell: CompletionShell): string {
  const name = program.name();
  const nodes: Node[] = [];
  walk(program, '', nodes);
  const data = dataFunctions(name, nodes);
  if (shell === 'bash') {
    return `# bash completion for ${name}; load with: source <(${name} completion bash)
${data}_${name}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local at; at="$(__${name}_path "\${COMP_WORDS[@]:1:COMP_CWORD-1}")"
  local values; values="$(__${name}_choices "$at" "$prev")"
  if [ -n "$values" ]; then COMPREPLY=($(compgen -W "$values" -- "$cur")); return; fi
  COMPREPLY=($(compgen -W "$(__${name}_words "$at")" -- "$cur"))
}
complete -o default -F _${name} ${name}
`;
  }
  return `#compdef ${name}
# zsh completion for ${name}; load with: source <(${name} completion zsh)
${data}_${name}() {
  local at; at="$(__${name}_path "\${(@)words[2,CURRENT-1]}")"
  local values; values="$(__${name}_choices "$at" "\${words[CURRENT-1]}")"
  if [ -z "$values" ]; then values="$(__${name}_words "$at")"; fi
  compadd -- \${=values}
}
compdef _${name} ${name}
`;
}
