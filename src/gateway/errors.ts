export const GatewayErrors = {
  ROUTE_NOT_FOUND: 'route_not_found',
  NO_INSTANCE: 'no_instance',
  UPSTREAM_UNREACHABLE: 'upstream_unreachable',
  UPSTREAM_TIMEOUT: 'upstream_timeout',
  TICKET_NOT_FOUND: 'ticket_not_found',
  JOURNAL_UNAVAILABLE: 'journal_unavailable',
  METHOD_NOT_ALLOWED: 'method_not_allowed',
  INVALID_OPERANDS: 'invalid_operands',
} as const;
