// Balancers pick the instance for one attempt: a pure `select(members, exclude)` over the pool's
// current view. Only healthy members are eligible; `exclude` holds the instances a request has
// already tried, so a retry lands elsewhere.
export type MemberState = 'healthy' | 'ejected' | 'down' | 'syncing';

export interface Member {
  /** Instance name, e.g. sales-queries-2. */
  name: string;
  origin: string;
  state: MemberState;
  /** Requests sent and not yet answered. */
  outstanding: number;
}

export type Balancer = (members: readonly Member[], exclude?: ReadonlySet<string>) => Member | undefined;

export function eligible(member: Member, exclude: ReadonlySet<string> | undefined): boolean {
  return member.state === 'healthy' && !exclude?.has(member.name);
}
