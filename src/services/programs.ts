// Every program `archlab run <program>` can start, loaded lazily so one process loads only its own.
import type { Program } from './program.ts';

export const programs: Record<string, () => Promise<Program>> = {
  gateway: async () => (await import('../gateway/main.ts')).gatewayProgram,
  monitor: async () => (await import('../monitor/main.ts')).monitorProgram,
  'users-commands': async () => (await import('./users/main.ts')).usersCommands,
  'users-queries': async () => (await import('./users/main.ts')).usersQueries,
  'registration-commands': async () => (await import('./registration/main.ts')).registrationCommands,
  'users-registrar': async () => (await import('./registration/main.ts')).usersRegistrar,
  'sales-commands': async () => (await import('./sales/main.ts')).salesCommands,
  'sales-queries': async () => (await import('./sales/main.ts')).salesQueries,
  'calculator-add': async () => (await import('./calculator/main.ts')).calculatorAdd,
  'calculator-subtract': async () => (await import('./calculator/main.ts')).calculatorSubtract,
  'calculator-multiply': async () => (await import('./calculator/main.ts')).calculatorMultiply,
  'products-commands': async () => (await import('./products/main.ts')).productsCommands,
  'products-queries': async () => (await import('./products/main.ts')).productsQueries,
  'orders-commands': async () => (await import('./orders/main.ts')).ordersCommands,
  'orders-queries': async () => (await import('./orders/main.ts')).ordersQueries,
  'orders-worker': async () => (await import('./orders/worker.ts')).ordersWorker,
};
