import { waitFor } from './wait-for';

describe('waitFor', () => {
  it('returns the first truthy value of the check', async () => {
    let calls = 0;
    await expect(waitFor(() => (++calls >= 3 ? calls : 0), { intervalMs: 1 })).resolves.toBe(3);
  });

  it('calls a description function only on the time-out, and names it in the error', async () => {
    const description = jest.fn(() => 'the answer (seen 0)');
    let polls = 0;
    const failed = waitFor(() => (polls++, false), { timeoutMs: 30, intervalMs: 5, description });
    await expect(failed).rejects.toThrow('Timed out after 30 ms waiting for the answer (seen 0)');
    expect(polls).toBeGreaterThan(1);
    expect(description).toHaveBeenCalledTimes(1);
  });

  it('names the last error of the check on a time-out', async () => {
    const check = () => {
      throw new Error('not yet');
    };
    await expect(waitFor(check, { timeoutMs: 10, intervalMs: 2, description: 'it' })).rejects.toThrow(
      'waiting for it (last error: not yet)',
    );
  });
});
