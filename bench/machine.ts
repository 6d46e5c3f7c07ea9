import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/**
 * The vector extensions onnxruntime's CPU kernels (MLAS) choose between. VMs that report the same
 * model name differ in them ("AMD EPYC" here had minilm-spam ceilings of ~78 and ~126 texts/s), so
 * each result says which it ran on.
 */
const ISA_FLAGS = ['avx2', 'avx512f', 'avx512_vnni', 'avx_vnni', 'amx_int8'] as const;

/** What a result needs to be read against another machine's. */
export interface BenchMachine {
  cpus: number;
  model: string;
  node: string;
  /** The ISA_FLAGS that /proc/cpuinfo's first CPU lists; null where there is no such file (not Linux). */
  isa: string[] | null;
}

/** The extensions of ISA_FLAGS in a /proc/cpuinfo text (its first 'flags' line); null without one. */
export function isaFlags(cpuinfo: string): string[] | null {
  const line = cpuinfo.split('\n').find((l) => /^flags\s*:/.test(l));
  if (!line) return null;
  const flags = new Set(
    line
      .slice(line.indexOf(':') + 1)
      .trim()
      .split(/\s+/),
  );
  return ISA_FLAGS.filter((f) => flags.has(f));
}

export function describeMachine(): BenchMachine {
  let cpuinfo = '';
  try {
    cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    // Not Linux: the rest still describes the machine.
  }
  return { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version, isa: isaFlags(cpuinfo) };
}

/** "2 cores (AMD EPYC; avx2, avx512f, avx512_vnni)", for the header of a result's markdown. */
export function machineLine(m: BenchMachine): string {
  const isa = m.isa === null ? 'extensions unknown' : m.isa.length ? m.isa.join(', ') : 'no AVX2';
  return `${m.cpus} cores (${m.model}; ${isa})`;
}
