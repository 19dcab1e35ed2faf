// The nginx peer: one worker, a keep-alive upstream pool, no access log; every file it writes (error
// log, pid, temp paths) is under this run's temp dir. master_process off: a single process that
// serves exactly as a worker does and dies with one signal, so nothing outlives the bench.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../../src/kit/ports.ts';
import { type Running, startServer } from './processes.ts';

export function nginxConfig(dir: string, port: number, backend: string): string {
  const upstream = new URL(backend).host;
  const temp = (name: string) => path.join(dir, name);
  return `worker_processes 1;
daemon off;
master_process off;
pid ${temp('nginx.pid')};
error_log ${temp('error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${temp('client_body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};
  upstream backend {
    server ${upstream};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

export async function startNginx(binary: string, dir: string, backend: string): Promise<Running> {
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  const errorLog = path.join(dir, 'error.log');
  writeFileSync(conf, nginxConfig(dir, port, backend));
  const errors = () => {
    try {
      return readFileSync(errorLog, 'utf8').slice(-4096);
    } catch {
      return '';
    }
  };
  // -e: nginx opens its error log before it reads the config; keep that one in the temp dir too.
  return startServer('nginx', binary, ['-p', dir, '-c', conf, '-e', errorLog], port, errors);
}
