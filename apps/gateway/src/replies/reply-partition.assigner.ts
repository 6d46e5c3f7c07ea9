import { AssignerProtocol, PartitionAssigner } from 'kafkajs';

/**
 * kafkajs has no manual assign(): a gateway reads its one partition of the replies topic through a
 * group of its own whose assignor hands that partition to it (and to any other member, which there
 * never is). No other gateway is in the group, so starting or stopping gateways rebalances nothing.
 */
export function replyPartitionAssigner(topic: string, partition: number): PartitionAssigner {
  return ({ cluster }) => ({
    name: 'GatewayReplyPartition',
    version: 0,
    assign({ members }) {
      const known = cluster.findTopicPartitionMetadata(topic).map((p) => p.partitionId);
      if (!known.includes(partition)) {
        return Promise.reject(
          new Error(
            `${topic} has no partition ${partition} (GATEWAY_REPLY_PARTITION): it has ${known.length}; raise its partition count or lower the setting`,
          ),
        );
      }
      const memberAssignment = AssignerProtocol.MemberAssignment.encode({
        version: 0,
        assignment: { [topic]: [partition] },
        userData: Buffer.alloc(0),
      });
      return Promise.resolve(members.map(({ memberId }) => ({ memberId, memberAssignment })));
    },
    protocol({ topics }) {
      return {
        name: 'GatewayReplyPartition',
        metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }),
      };
    },
  });
}
