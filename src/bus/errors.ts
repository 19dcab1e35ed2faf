export const BusErrors = {
  /** append() with expectedSeq found the stream at another position. */
  SEQ_CONFLICT: 'bus_seq_conflict',
  /** The broker could not be reached. */
  UNAVAILABLE: 'bus_unavailable',
  /** The bus URL is not one of the supported forms. */
  BAD_URL: 'bus_bad_url',
  /** The bus was used after close(). */
  CLOSED: 'bus_closed',
} as const;
