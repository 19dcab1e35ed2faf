export const SupervisorErrors = {
  /** Another supervisor holds the data directory. */
  ALREADY_RUNNING: 'already_running',
  /** An instance did not report its address in time (its log file is named in the message). */
  START_FAILED: 'instance_start_failed',
  /** A fault that needs a running process (kill, hang, resume) names one that is not running. */
  NOT_RUNNING: 'instance_not_running',
  /** No supervisor answers for this data directory. */
  NOT_UP: 'not_running',
} as const;
