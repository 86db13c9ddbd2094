// attack: Node.js process flood: spawn children as fast as child_process allows (the pids cgroup must refuse them)
// category: exhaust
// request: {"timeout": 5}
// within: 12
// expect: status=200 result="contained"
// expect: status=422 error_type=timeout
// expect: status=422 error_type=memory_limit
const { spawn } = require('child_process');
async function main() {
  let started = 0;
  let refused = 0;
  for (let i = 0; i < 500; i += 1) {
    try {
      const child = spawn('/usr/bin/sleep', ['30'], { stdio: 'ignore' });
      await new Promise((resolve) => {
        child.once('spawn', () => { started += 1; resolve(); });
        child.once('error', () => { refused += 1; resolve(); });
      });
    } catch (e) {
      refused += 1;
    }
    if (refused > 5) break;
  }
  return refused > 0 && started < 500 ? 'contained' : [`started ${started}`, `refused ${refused}`];
}
