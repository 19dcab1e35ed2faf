import { type Balancer, eligible } from './balancer.ts';

/**
 * All traffic to the first eligible member in declared order: the primary while it is healthy, the
 * next backup otherwise, and back to the primary (fail-back) as soon as it is healthy again.
 */
export const primaryBackup: Balancer = function selectPrimaryBackup(members, exclude) {
  return members.find((member) => eligible(member, exclude));
};
