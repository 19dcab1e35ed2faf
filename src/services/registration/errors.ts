// Codes of seed 000's registration service (registration-commands and users-registrar). An invalid
// email answers the users service's `invalid_email`: same meaning, one code for clients to test.
export const RegistrationErrors = {
  /** A simulate_failure* value that is not a boolean (true/false, 1/0, yes/no, on/off, empty). */
  INVALID_FAILURE_FLAG: 'invalid_failure_flag',
  /** failure_uuid is not 1-200 printable characters. */
  INVALID_FAILURE_UUID: 'invalid_failure_uuid',
  /** The bus did not take the registration: nothing was stored, the client should retry. */
  ENQUEUE_FAILED: 'registration_enqueue_failed',
  /** The registrar knows no registration for this email. */
  NOT_FOUND: 'registration_not_found',
  /** The ping could not be written to the ping log. */
  PING_LOG_UNAVAILABLE: 'ping_log_unavailable',
} as const;
