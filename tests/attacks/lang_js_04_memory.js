// attack: fill memory from Node.js: Buffers outside V8's heap, then arrays in it
// category: exhaust
// request: {"memory": 64, "timeout": 10}
// within: 15
// expect: status=422 error_type=memory_limit
function main() {
  const kept = [];
  for (;;) kept.push(Buffer.alloc(1 << 20, 7));
}
