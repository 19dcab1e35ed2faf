import { type Balancer, eligible } from './balancer.ts';

/** The eligible member with the fewest requests in flight; ties go to the earlier-declared one. */
export const leastOutstanding: Balancer = function selectLeastOutstanding(members, exclude) {
  let best: (typeof members)[number] | undefined;
  for (const member of members) {
    if (eligible(member, exclude) && (best === undefined || member.outstanding < best.outstanding)) best = member;
  }
  return best;
};
