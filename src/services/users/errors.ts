export const UsersErrors = {
  INVALID_EMAIL: 'invalid_email',
  EMAIL_TAKEN: 'email_taken',
  USERNAME_TAKEN: 'username_taken',
  USER_NOT_FOUND: 'user_not_found',
  IDEMPOTENCY_KEY_REUSED: 'idempotency_key_reused',
  INVALID_IDEMPOTENCY_KEY: 'invalid_idempotency_key',
  INVALID_CURSOR: 'invalid_cursor',
} as const;
