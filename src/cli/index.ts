#!/usr/bin/env node
// archlab command line. The only file that decides the exit code: 0 ok, 1 failure, 2 bad usage or
// a bad file. Commands are loaded lazily so --help loads nothing heavy.
import { parseArgs } from 'node:util';

const HELP = `archlab — a microservices system and availability lab

Usage: archlab <command> [options]

Commands:
  up                 start every process of the topology; Ctrl-C stops them all
    --topology FILE    topology file (default ./archlab.yaml, else the bundled one)
    --data DIR         data directory: stores, bus, logs, run.json (default ./data)
    --port N           gateway port (default: the topology's, 8080)
  status             every instance of the running system: state, health, pid, port, role
    --json             the same as JSON, for scripts
  fault <action> <instance>
                     a process fault on the running system, by its supervisor:
                     kill (SIGKILL; restarted unless --hold), hang (SIGSTOP),
                     resume (SIGCONT), restart (stop, then start again)
    --hold             with kill: leave it down until 'fault restart'
  experiment run <file>
                     run an experiment (load, faults, variants) against fresh systems and
                     write reports/<time>-<name>/ (report.json, report.md, report.html);
                     exit 0 when every hypothesis line holds, 1 when one fails
    --out DIR          where report folders go (default ./reports)
  report <dir>       render report.md and report.html again from report.json
  run <program>      run one program as this process (what 'up' spawns)
    --instance NAME    instance name (default <service>-1)
    --port N --host H --data DIR --topology FILE

status and fault find the system through --data (default ./data).

Options:
  -h, --help         this text

Examples:
  archlab up                                  the default topology, gateway on 127.0.0.1:8080
  archlab up --port 9000 --data ./data-b      a second system beside the first
  archlab status                              what runs, and what the monitor sees
  archlab fault kill users-queries-1          crash an instance (the supervisor restarts it)
  archlab fault hang users-queries-1          freeze it; 'archlab fault resume users-queries-1' thaws it
  archlab experiment run experiments/seed-002-sales-active.yaml
`;

const USAGE_CODES = new Set(['usage', 'config_invalid', 'already_running']);

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      topology: { type: 'string' },
      data: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      instance: { type: 'string' },
      json: { type: 'boolean' },
      hold: { type: 'boolean' },
      out: { type: 'string' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined && !values.help ? 2 : 0;
  }
  switch (command) {
    case 'up':
      await (await import('./commands/up.ts')).up(values);
      return 0;
    case 'status':
      await (await import('./commands/status.ts')).status(values);
      return 0;
    case 'fault':
      await (await import('./commands/fault.ts')).fault({ ...values, action: rest[0], instance: rest[1] });
      return 0;
    case 'experiment':
      return (await import('./commands/experiment.ts')).experiment({ ...values, action: rest[0], file: rest[1] });
    case 'report':
      return (await import('./commands/experiment.ts')).report({ dir: rest[0] });
    case 'run':
      await (await import('./commands/run.ts')).run({ ...values, program: rest[0] });
      return 0;
    default:
      process.stderr.write(`archlab: unknown command "${command}"\n\n${HELP}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const { code, message } = error as { code?: string; message?: string };
    process.stderr.write(`archlab: ${message ?? String(error)}\n`);
    process.exitCode = code !== undefined && (USAGE_CODES.has(code) || code.startsWith('ERR_PARSE_ARGS')) ? 2 : 1;
  },
);
