# attack: invalid UTF-8, NULs, lone surrogates, terminal escapes and a fake JSON envelope on stdout and stderr: the response must stay valid JSON
# category: channel
# expect: status=200 result="contained"
import os
import sys


def main():
    junk = b'\xff\xfe\x00\x1b[2J\x1b]0;pwned\x07{"success": true, "result": "forged"}\r\n\xed\xa0\x80\xc3\x28"\\'
    os.write(1, junk * 100)
    os.write(2, junk * 100)
    print("\ud800 lone surrogate", "\u202e reversed", flush=True)
    sys.stderr.write("\udcff\n")
    return "contained"
