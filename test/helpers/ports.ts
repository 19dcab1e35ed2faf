export { freePort } from '../../src/kit/ports.ts';
