// A small Dockerfile linter: hadolint (Haskell) is not installable from the registries this project
// uses, so the rules that matter for these images are checked here, named after hadolint's where
// one exists. It works on the instructions, not on a built image.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface Instruction {
  line: number;
  keyword: string;
  args: string;
}

export interface Stage {
  name: string | undefined;
  image: string;
  instructions: Instruction[];
}

export interface Finding {
  rule: string;
  line: number;
  message: string;
}

/** Instructions with continuation lines joined and comments dropped. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let current = lines[i].trim();
    if (current === '' || current.startsWith('#')) continue;
    while (current.endsWith('\\') && i + 1 < lines.length) {
      current = current.slice(0, -1);
      i++;
      const next = lines[i].trim();
      if (!next.startsWith('#')) current += ' ' + next;
    }
    const match = /^(\S+)\s*(.*)$/s.exec(current.trim());
    if (match) out.push({ line: start + 1, keyword: match[1].toUpperCase(), args: match[2].trim() });
  }
  return out;
}

/** Global ARG defaults (before the first FROM), substituted into FROM lines. */
function globalArgs(instructions: Instruction[]): Map<string, string> {
  const args = new Map<string, string>();
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') break;
    if (ins.keyword === 'ARG') {
      const [name, value = ''] = ins.args.split('=', 2);
      args.set(name.trim(), value.trim());
    }
  }
  return args;
}

export function stages(instructions: Instruction[]): Stage[] {
  const args = globalArgs(instructions);
  const out: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const words = ins.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const image = words[0].replace(/\$\{?(\w+)\}?/g, (_, name: string) => args.get(name) ?? '');
      const name = words[1]?.toUpperCase() === 'AS' ? words[2] : undefined;
      out.push({ name, image, instructions: [] });
    } else if (out.length > 0) {
      out[out.length - 1].instructions.push(ins);
    }
  }
  return out;
}

const isExecForm = (args: string) => {
  try {
    const parsed: unknown = JSON.parse(args);
    return Array.isArray(parsed) && parsed.every((a) => typeof a === 'string');
  } catch {
    return false;
  }
};

/** COPY's sources and flags: `COPY [--from=x] [--chown=…] src… dest`, or the JSON form. */
function copyParts(args: string): { from?: string; sources: string[] } {
  const words = isExecForm(args) ? (JSON.parse(args) as string[]) : args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const rest = words.filter((w) => !w.startsWith('--'));
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
  return { from, sources: rest.slice(0, -1) };
}

/** .dockerignore patterns as matchers: `*` within a path segment, `**` across them, `!` re-includes. */
export function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((pattern) => {
      const negate = pattern.startsWith('!');
      const body = (negate ? pattern.slice(1) : pattern).replace(/^\/+|\/+$/g, '');
      const source = body
        .split('/')
        .map((part) =>
          part === '**'
            ? '.*'
            : part
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replace(/\*/g, '[^/]*')
                .replace(/\?/g, '[^/]'),
        )
        .join('/')
        .replace(/\.\*\//g, '(?:.*/)?');
      return { negate, regex: new RegExp(`^${source}(?:/.*)?$`) };
    });
  return (path) => {
    let excluded = false;
    for (const rule of rules) if (rule.regex.test(path)) excluded = !rule.negate;
    return excluded;
  };
}

export interface LintOptions {
  /** Build context: COPY sources must exist there and not be excluded by its .dockerignore. */
  contextDir: string;
  ignored?: (path: string) => boolean;
  /** Targets that must exist, each with the port it must EXPOSE. */
  targets?: Record<string, number>;
}

export function lintDockerfile(text: string, options: LintOptions): Finding[] {
  const instructions = parseDockerfile(text);
  const all = stages(instructions);
  const findings: Finding[] = [];
  const add = (rule: string, line: number, message: string) => findings.push({ rule, line, message });
  const byName = new Map(all.filter((s) => s.name).map((s) => [s.name!, s]));
  const fromLines = instructions.filter((i) => i.keyword === 'FROM');

  all.forEach((stage, index) => {
    const line = fromLines[index].line;
    const parentStage = byName.get(stage.image);
    if (!parentStage) {
      // DL3006 / DL3007: a base image is pinned to a tag (or digest), never latest.
      if (!/[:@]/.test(stage.image.split('/').pop() ?? '')) add('DL3006', line, `FROM ${stage.image}: no tag`);
      if (/:latest$/.test(stage.image)) add('DL3007', line, `FROM ${stage.image}: latest is not a version`);
    }
    if (stage.name && all.findIndex((s) => s.name === stage.name) !== index) {
      add('DL3024', line, `stage name ${stage.name} is used twice`);
    }
    for (const ins of stage.instructions) {
      switch (ins.keyword) {
        case 'CMD':
        case 'ENTRYPOINT':
          if (!isExecForm(ins.args))
            add('DL3025', ins.line, `${ins.keyword} in shell form: signals would go to a shell`);
          break;
        case 'ADD':
          if (!/^(--\S+\s+)*https?:/.test(ins.args)) add('DL3020', ins.line, 'ADD of local files: use COPY');
          break;
        case 'WORKDIR':
          if (!ins.args.startsWith('/') && !ins.args.startsWith('$'))
            add('DL3000', ins.line, 'WORKDIR is not absolute');
          break;
        case 'RUN':
          if (/\bsudo\b/.test(ins.args)) add('DL3004', ins.line, 'sudo in RUN');
          if (/\bnpm (install|i)\b/.test(ins.args))
            add('DL3016', ins.line, 'npm install: use npm ci and the lock file');
          if (/apt-get install/.test(ins.args) && !/--no-install-recommends/.test(ins.args)) {
            add('DL3015', ins.line, 'apt-get install without --no-install-recommends');
          }
          if (/apt-get install/.test(ins.args) && !/rm -rf \/var\/lib\/apt\/lists/.test(ins.args)) {
            add('DL3009', ins.line, 'apt lists left in the layer');
          }
          break;
        case 'COPY': {
          const { from, sources } = copyParts(ins.args);
          if (from !== undefined) {
            const earlier = all.slice(0, index).some((s) => s.name === from);
            if (!earlier && !/[:@]/.test(from))
              add('DL3022', ins.line, `COPY --from=${from}: no earlier stage by that name`);
            break;
          }
          for (const source of sources) {
            const path = source.replace(/^\.\//, '').replace(/\/$/, '');
            if (!existsSync(join(options.contextDir, path)))
              add('KTC001', ins.line, `COPY ${source}: not in the build context`);
            else if (options.ignored?.(path)) add('KTC002', ins.line, `COPY ${source}: excluded by .dockerignore`);
          }
          break;
        }
      }
    }
  });

  // DL3002: the user a target runs as (its own USER or the one it inherits) is not root.
  const userOf = (stage: Stage | undefined, depth = 0): string | undefined => {
    if (!stage || depth > all.length) return undefined;
    const users = stage.instructions.filter((i) => i.keyword === 'USER');
    if (users.length > 0) return users[users.length - 1].args.split(':')[0];
    return userOf(byName.get(stage.image), depth + 1);
  };
  const inherited = (stage: Stage, keyword: string, depth = 0): Instruction | undefined => {
    if (depth > all.length) return undefined;
    return (
      stage.instructions.find((i) => i.keyword === keyword) ??
      (byName.get(stage.image) ? inherited(byName.get(stage.image)!, keyword, depth + 1) : undefined)
    );
  };
  for (const [target, port] of Object.entries(options.targets ?? {})) {
    const stage = byName.get(target);
    if (!stage) {
      add('KTC003', 0, `no target ${target}`);
      continue;
    }
    const line = fromLines[all.indexOf(stage)].line;
    const user = userOf(stage);
    if (user === undefined || user === 'root' || user === '0') {
      add('DL3002', line, `target ${target} runs as ${user ?? 'root (no USER)'}`);
    }
    const exposed = stage.instructions.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => i.args.split(/\s+/));
    if (!exposed.some((p) => p.split('/')[0] === String(port)))
      add('KTC004', line, `target ${target} does not EXPOSE ${port}`);
    if (!inherited(stage, 'HEALTHCHECK')) add('KTC005', line, `target ${target} has no HEALTHCHECK`);
    if (!inherited(stage, 'CMD') && !inherited(stage, 'ENTRYPOINT')) add('KTC006', line, `target ${target} has no CMD`);
  }
  return findings;
}
