export const SupervisorErrors = {
  /** Another supervisor holds the data directory. */
  ALREADY_RUNNING: 'already_running',
  /** An instance did not report its address in time (its log file is named in the message). */
  START_FAILED: 'instance_start_failed',
} as const;
