export const ProductsErrors = {
  PRODUCT_NOT_FOUND: 'product_not_found',
  /** A PUT carried a version (body `version` or If-Match) the product has moved past. */
  VERSION_CONFLICT: 'product_version_conflict',
  /** A PUT that sets `stock` must say which version it read: a blind set could erase a reservation. */
  VERSION_REQUIRED: 'product_version_required',
  /** The same order id was already used to reserve another product or quantity. */
  RESERVATION_MISMATCH: 'reservation_mismatch',
} as const;
