// The standard gRPC health service (grpc.health.v1.Health, proto/health.proto) for archlab's gRPC
// servers: Check answers the status of a known service ("" is the whole server) or NOT_FOUND; Watch
// sends the current status at once (SERVICE_UNKNOWN for an unknown service, without ending the
// call) and then every change, until the client cancels or the server shuts down.
import {
  type handleServerStreamingCall,
  type handleUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  status,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { loadService } from './grpc.ts';

export const HEALTH_PROTO = 'health.proto';
export const HEALTH_SERVICE = 'grpc.health.v1.Health';

export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

export interface HealthCheckRequest {
  service: string;
}

export interface HealthCheckResponse {
  status: ServingStatus;
}

export interface HealthService {
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
  /** Sets a service's status and tells its watchers when it changed. */
  set(service: string, servingStatus: ServingStatus): void;
  /** Ends every Watch call: open ones would keep Server.tryShutdown waiting until it is forced. */
  endWatches(): void;
}

interface Watcher {
  service: string;
  call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse>;
  sent: ServingStatus | undefined;
}

export function createHealthService(initial: Record<string, ServingStatus>): HealthService {
  const statuses = new Map(Object.entries(initial));
  const watchers = new Set<Watcher>();

  function tell(watcher: Watcher) {
    const current = statuses.get(watcher.service) ?? 'SERVICE_UNKNOWN';
    if (current === watcher.sent) return;
    watcher.sent = current;
    // A few bytes per change: no backpressure worth waiting for.
    watcher.call.write({ status: current });
  }

  const check: handleUnaryCall<HealthCheckRequest, HealthCheckResponse> = (call, callback) => {
    const current = statuses.get(call.request.service);
    if (current === undefined)
      callback({ code: status.NOT_FOUND, details: `unknown service "${call.request.service}"` });
    else callback(null, { status: current });
  };

  const watch: handleServerStreamingCall<HealthCheckRequest, HealthCheckResponse> = (call) => {
    const watcher: Watcher = { service: call.request.service, call, sent: undefined };
    watchers.add(watcher);
    const forget = () => watchers.delete(watcher);
    call.once('cancelled', forget);
    call.once('error', forget);
    call.once('finish', forget);
    tell(watcher);
  };

  return {
    definition: loadService(HEALTH_PROTO, HEALTH_SERVICE).service,
    implementation: { Check: check, Watch: watch },
    set(service, servingStatus) {
      statuses.set(service, servingStatus);
      for (const watcher of watchers) if (watcher.service === service) tell(watcher);
    },
    endWatches() {
      for (const watcher of watchers) watcher.call.end();
      watchers.clear();
    },
  };
}
