// attack: forge the JavaScript runner's report: a runner failure (sandbox_error) written on fd 4, then an exit that skips the runner's own handlers
// category: channel
// expect: status=422 error_type=invalid_result
const fs = require('fs');
fs.ftruncateSync(4, 0);
fs.writeSync(4, JSON.stringify({ ok: false, error_type: 'sandbox_error', message: 'the sandbox failed' }), 0);
process.reallyExit(0);
