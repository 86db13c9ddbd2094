# attack: fill memory from Bash: a string that doubles until something stops it
# shellcheck shell=bash
# category: exhaust
# request: {"memory": 64, "timeout": 10}
# within: 15
# expect: status=422 error_type=memory_limit
s=x
while :; do s=$s$s; done
