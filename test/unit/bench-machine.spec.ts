import { isaFlags, machineLine } from '../../bench/machine';

// Two CPUs' /proc/cpuinfo, cut down: the kernel prints one block per CPU, 'flags' in each.
const EPYC_AVX512 = [
  'processor\t: 0',
  'model name\t: AMD EPYC',
  'flags\t\t: fpu sse sse2 avx avx2 fma avx512f avx512dq avx512_vnni avx512_bf16',
  '',
  'processor\t: 1',
  'flags\t\t: fpu sse sse2 avx avx2 fma avx512f avx512dq avx512_vnni avx512_bf16',
].join('\n');
const AVX2_ONLY = 'processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\nbugs\t\t: spectre_v1\n';

describe('isaFlags', () => {
  it('names the vector extensions of the first CPU, in a fixed order', () => {
    expect(isaFlags(EPYC_AVX512)).toEqual(['avx2', 'avx512f', 'avx512_vnni']);
    expect(isaFlags(AVX2_ONLY)).toEqual(['avx2']);
  });

  it('does not take a longer flag for a shorter one', () => {
    // avx512_vnni is not avx_vnni, and avx512dq is not avx512f.
    expect(isaFlags('flags : avx512_vnni avx512dq')).toEqual(['avx512_vnni']);
  });

  it('says unknown where there is no flags line', () => {
    expect(isaFlags('')).toBeNull();
    expect(machineLine({ cpus: 2, model: 'X', node: 'v20', isa: null })).toBe('2 cores (X; extensions unknown)');
  });

  it('says no AVX2 for a CPU without any of them', () => {
    expect(machineLine({ cpus: 4, model: 'Old', node: 'v20', isa: isaFlags('flags : sse2') })).toBe(
      '4 cores (Old; no AVX2)',
    );
  });
});
