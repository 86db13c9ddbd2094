# attack: Bash fork bomb: the classic :(){ :|:& };: (the pids cgroup must stop it, the deadline end it)
# shellcheck shell=bash disable=SC2264
# category: exhaust
# request: {"timeout": 2}
# within: 10
# expect: status=422 error_type=timeout
# expect: status=422 error_type=memory_limit
# expect: status=422 error_type=exited
:(){ :|:& };:
sleep 30
