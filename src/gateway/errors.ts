export const GatewayErrors = {
  ROUTE_NOT_FOUND: 'route_not_found',
  NO_INSTANCE: 'no_instance',
  UPSTREAM_UNREACHABLE: 'upstream_unreachable',
  UPSTREAM_TIMEOUT: 'upstream_timeout',
} as const;
