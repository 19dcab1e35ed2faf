export const SalesErrors = {
  SELLER_NOT_FOUND: 'seller_not_found',
  SELLER_DOCUMENT_TAKEN: 'seller_document_taken',
  SELLER_HAS_SALES: 'seller_has_sales',
  SALE_NOT_FOUND: 'sale_not_found',
} as const;
