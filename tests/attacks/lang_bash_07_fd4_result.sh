# attack: give a Bash run a result by writing JSON to fd 4, where JavaScript's and R's runners report (a Bash script has no fd 4)
# shellcheck shell=bash
# category: channel
# expect: status=200 result=null
if { echo '{"ok":true,"result":"forged"}' >&4; } 2>/dev/null; then echo "fd 4 is open"; exit 1; fi
exit 0
