// Run by `drover trace collect` in bench/fuzz.mjs: POSTs every fuzz body of a folder to the receiver
// in OTEL_EXPORTER_OTLP_ENDPOINT and writes each answer (status and body, or the connection error).
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';

const [dir, out] = process.argv.slice(2);
const endpoint = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
const inputs = JSON.parse(readFileSync(join(dir, 'inputs.json'), 'utf8'));

const post = (body, type, encoding) =>
  new Promise((resolve) => {
    const headers = { 'content-type': type, 'content-length': body.length };
    if (encoding) headers['content-encoding'] = encoding;
    const req = request(`${endpoint}/v1/traces`, { method: 'POST', headers }, (res) => {
      let text = '';
      res.on('data', (d) => {
        if (text.length < 4000) text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode, body: text }));
      res.on('error', (err) => resolve({ error: err.code ?? err.message }));
    });
    req.setTimeout(60_000, () => req.destroy(new Error('no answer in 60 s')));
    req.on('error', (err) => resolve({ error: err.code ?? err.message }));
    req.end(body);
  });

const answers = [];
for (const input of inputs) {
  const body = readFileSync(join(dir, `${input.i}.body`));
  answers.push({ i: input.i, ...(await post(body, input.type, input.encoding)) });
}
writeFileSync(out, JSON.stringify(answers));
