// The JavaScript runner: `node -e <this file>`, started by runner.py's foreign.py inside the jail.
// It runs the user's script (fd 3) as a classic script named script.js in this context, so that
// `function main` and a top-level `const main` are both found; `require`, `module` and `exports`
// are there as in CommonJS. If the script defines main (or sets module.exports.main), it is called
// with the request's input and awaited when it returns a promise; its value becomes the run's
// result. Without main the result is null once the script's work (its timers too) is done.
//
// The result goes to fd 4 as one JSON object, {"ok": true, "result": ...} or {"ok": false,
// "error_type", "message", "traceback"}, never to stdout (foreign.py reads it after node exits).
//
// How values become JSON (README.md, "Languages"): what JSON.stringify does, with these
// differences: undefined becomes null (left out as an object's property, as JSON.stringify does);
// NaN and +-Infinity become null (as in Python); a BigInt becomes a JSON number with all its
// digits; a Date its ISO 8601 string (toJSON); a Map an object (its keys as strings: a key of
// another type is an error), a Set an array, a typed array an array of numbers; an object's
// toJSON() is used. A function, a symbol or a cycle is an error (invalid_result) that says where.
// It runs in the global scope of `node -e`: everything is inside this function, so that the
// script's own top-level names (`const fs`) cannot collide with the runner's.
(function runner() {
'use strict';
const fs = require('fs');
const vm = require('vm');

const SCRIPT_FD = 3;
const RESULT_FD = 4;
const MAX_DEPTH = 1000;
let reported = false;
let phase = 'script';
let explicitExit = false;

function report(frame) {
  if (reported) return;
  reported = true;
  const text = JSON.stringify(frame);
  fs.ftruncateSync(RESULT_FD, 0);
  fs.writeSync(RESULT_FD, text, 0);
}

class NotJson extends Error {}

function encode(value, path, ancestors) {
  if (value === undefined || value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'bigint':
      return value.toString();
    case 'string':
      return JSON.stringify(value);
    case 'function':
    case 'symbol':
      throw new NotJson(`a ${typeof value} cannot become JSON, at ${path}`);
  }
  if (ancestors.includes(value)) throw new NotJson(`a cycle: ${path} contains itself`);
  if (ancestors.length >= MAX_DEPTH) throw new NotJson(`nested more than ${MAX_DEPTH} deep, at ${path}`);
  ancestors.push(value);
  try {
    if (value instanceof Date) {
      if (Number.isNaN(value.getTime())) throw new NotJson(`an invalid Date, at ${path}`);
      return JSON.stringify(value.toISOString());
    }
    if (typeof value.toJSON === 'function' && !(value instanceof Map) && !(value instanceof Set)) {
      return encode(value.toJSON(), path, ancestors);
    }
    if (Array.isArray(value) || ArrayBuffer.isView(value) || value instanceof Set) {
      const items = [];
      let i = 0;
      for (const item of value instanceof Set ? value.values() : Array.from(value)) {
        items.push(encode(item, `${path}[${i}]`, ancestors));
        i += 1;
      }
      return `[${items.join(',')}]`;
    }
    const entries = [];
    if (value instanceof Map) {
      for (const [key, item] of value) {
        if (!['string', 'number', 'bigint', 'boolean'].includes(typeof key)) {
          throw new NotJson(`a Map key of type ${typeof key} cannot become a JSON key, at ${path}`);
        }
        entries.push(`${JSON.stringify(String(key))}:${encode(item, `${path}.get(${JSON.stringify(String(key))})`, ancestors)}`);
      }
    } else {
      for (const key of Object.keys(value)) {
        const item = value[key];
        if (item === undefined) continue;
        entries.push(`${JSON.stringify(key)}:${encode(item, `${path}.${key}`, ancestors)}`);
      }
    }
    return `{${entries.join(',')}}`;
  } finally {
    ancestors.pop();
  }
}

// The user's frames only: the runner's own ([eval]) and node's internals are noise.
function userTrace(error) {
  if (!(error instanceof Error) || typeof error.stack !== 'string') {
    return `Uncaught ${typeof error === 'string' ? error : String(error)}`;
  }
  return error.stack
    .split('\n')
    .filter((line) => !/^\s+at .*(\[eval\]|node:internal|node:vm)/.test(line))
    .join('\n');
}

function fail(errorType, error) {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : `Uncaught ${String(error)}`;
  report({ ok: false, error_type: errorType, message, traceback: userTrace(error) });
}

function memoryError(error) {
  return error instanceof RangeError && /allocation failed|Invalid (string|array) length|out of memory/i.test(error.message);
}

function uncaught(error) {
  fail(memoryError(error) ? 'memory_limit' : 'runtime_error', error);
  process.reallyExit(1);
}

process.on('uncaughtException', uncaught);
const realExit = process.exit.bind(process);
process.exit = (code) => {
  explicitExit = true;
  realExit(code);
};
process.on('exit', (code) => {
  if (reported) return;
  if (phase === 'done' && code === 0) {
    report({ ok: true, result: null });
  } else if (phase === 'main' && !explicitExit && code === 0) {
    report({ ok: false, error_type: 'runtime_error', message: "main()'s promise never settled: nothing was left to run", traceback: '' });
  } else {
    const when = phase === 'main' ? 'before main() returned' : 'before the script finished';
    report({ ok: false, error_type: 'exited', exit_code: code, message: `the script exited with status ${code} ${when}` });
  }
});

function readJson(name, fallback) {
  try {
    return JSON.parse(fs.readFileSync(name, 'utf8'));
  } catch (e) {
    return fallback;
  }
}

async function run() {
  const source = fs.readFileSync(SCRIPT_FD, 'utf8');
  const input = readJson('input.json', null);
  const userModule = { exports: {} };
  Object.assign(globalThis, {
    input_data: input,
    parameters: readJson('parameters.json', {}),
    module: userModule,
    exports: userModule.exports,
    require,
  });
  let script;
  try {
    script = new vm.Script(source, { filename: 'script.js' });
  } catch (error) {
    fail('validation_error', error);
    process.reallyExit(1);
  }
  script.runInThisContext();
  let main = vm.runInThisContext('typeof main === "function" ? main : undefined');
  if (main === undefined && userModule.exports && typeof userModule.exports.main === 'function') {
    main = userModule.exports.main;
  }
  if (main === undefined) {
    phase = 'done';
    return;
  }
  phase = 'main';
  const value = await main(input);
  let encoded;
  try {
    encoded = encode(value, 'result', []);
  } catch (error) {
    if (!(error instanceof NotJson) && !(error instanceof RangeError)) throw error;
    report({ ok: false, error_type: 'invalid_result', message: `main() returned a value that cannot become JSON: ${error.message}` });
    process.reallyExit(0);
  }
  // Spliced as text: a BigInt's digits would not survive a JSON.parse.
  reported = true;
  fs.ftruncateSync(RESULT_FD, 0);
  fs.writeSync(RESULT_FD, `{"ok":true,"result":${encoded}}`, 0);
  // As Python's runner does once main() returned: the run is over, timers and all.
  process.reallyExit(0);
}

run().catch(uncaught);
})();
