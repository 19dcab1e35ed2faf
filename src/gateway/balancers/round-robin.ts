import { type Balancer, eligible } from './balancer.ts';

/** Each call starts one past the previous pick, skipping members that are not eligible. */
export function roundRobin(): Balancer {
  let next = 0;
  return function selectRoundRobin(members, exclude) {
    for (let i = 0; i < members.length; i++) {
      const index = (next + i) % members.length;
      const member = members[index]!;
      if (eligible(member, exclude)) {
        next = index + 1;
        return member;
      }
    }
    return undefined;
  };
}
