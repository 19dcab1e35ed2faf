// What seed 000's registration writes to the bus: the registration event log (every hop of the
// chain, written by users-registrar through its outbox, so each event commits with the state change it
// reports) and the ping logs (written by registration-commands as it answers a ping).
import type { Component } from './chain.ts';

export const REGISTRATION_EVENTS_STREAM = 'registration.events';
export const PINGS_STREAM = 'registration.pings';
export const PING_FAILURES_STREAM = 'registration.ping-failures';

export const RegistrationEvents = {
  /** The registrar saw the job for the first time (`receivedAt` is when the HTTP side stored it). */
  RECEIVED: 'registration.received',
  /** One attempt by one component; `attempt` counts this job's attempts over the whole chain. */
  ATTEMPTED: 'registration.attempted',
  /** A component failed: `reason` is `simulated` (a simulate_failure* flag) or `error`. */
  FAILED: 'registration.failed',
  /** The job reached the failure log and is scheduled for replay. */
  FAILURE_LOGGED: 'registration.failure-logged',
  REGISTERED: 'registration.registered',
  /** The email was already registered (by another request); nothing changed. */
  DUPLICATE: 'registration.duplicate',
} as const;

export const PingEvents = {
  RECEIVED: 'ping.received',
  FAILURE_RECEIVED: 'ping.failure-received',
} as const;

export interface RegistrationEventData {
  jobId: string;
  email: string;
  failureUuid: string | null;
  /** The component the event is about, when there is one. */
  component?: Component;
  instance?: string;
  [field: string]: unknown;
}

export interface PingLogged {
  ping_id: string;
  ping_datetime: string;
  simulate_failure: boolean;
  simulate_failure_r1: boolean;
  simulate_failure_r2: boolean;
}
