export const StoreErrors = {
  /** A UNIQUE constraint refused the write; details.columns names the columns when known. */
  UNIQUE_VIOLATION: 'store_unique_violation',
  /** The database could not be reached or refused the connection. */
  UNAVAILABLE: 'store_unavailable',
  /** The database holds a migration this code does not know, or a known one was edited. */
  MIGRATION_MISMATCH: 'store_migration_mismatch',
  /** The store URL is not one of the supported forms. */
  BAD_URL: 'store_bad_url',
  /** The store was used after close(). */
  CLOSED: 'store_closed',
} as const;
