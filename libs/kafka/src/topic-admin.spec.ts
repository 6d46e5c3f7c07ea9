import { chooseReplication } from './topic-admin';

describe('chooseReplication', () => {
  it('keeps one replica and the defaults on a single broker', () => {
    expect(chooseReplication({ brokers: 1, defaultReplicationFactor: 1, minInsyncReplicas: 1 })).toEqual({
      replicationFactor: 1,
      configEntries: [],
    });
  });

  it('takes three replicas on a three-broker cluster even where the broker default is 1, and min.insync.replicas 2', () => {
    expect(chooseReplication({ brokers: 3, defaultReplicationFactor: 1, minInsyncReplicas: 1 })).toEqual({
      replicationFactor: 3,
      configEntries: [{ name: 'min.insync.replicas', value: '2' }],
    });
  });

  it("uses the cluster's own settings where they already replicate (the local --brokers 3 cluster)", () => {
    expect(chooseReplication({ brokers: 3, defaultReplicationFactor: 3, minInsyncReplicas: 2 })).toEqual({
      replicationFactor: 3,
      configEntries: [],
    });
  });

  it('keeps a larger broker default and a stricter min.insync.replicas', () => {
    expect(chooseReplication({ brokers: 6, defaultReplicationFactor: 5, minInsyncReplicas: 3 })).toEqual({
      replicationFactor: 5,
      configEntries: [],
    });
  });

  it('caps the factor at the broker count and min.insync.replicas at the factor', () => {
    expect(chooseReplication({ brokers: 2, defaultReplicationFactor: 3, minInsyncReplicas: 2 })).toEqual({
      replicationFactor: 2,
      configEntries: [],
    });
    expect(chooseReplication({ brokers: 3, minInsyncReplicas: 2 }, 1)).toEqual({
      replicationFactor: 1,
      configEntries: [{ name: 'min.insync.replicas', value: '1' }],
    });
  });

  it('falls back to min(3, brokers) when the broker config cannot be read', () => {
    expect(chooseReplication({ brokers: 5 })).toEqual({ replicationFactor: 3, configEntries: [] });
  });

  it('follows TOPIC_REPLICATION_FACTOR', () => {
    expect(
      chooseReplication({ brokers: 5, defaultReplicationFactor: 3, minInsyncReplicas: 2 }, 4).replicationFactor,
    ).toBe(4);
  });
});
