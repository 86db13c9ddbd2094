# The Bash language (SANDBOX_LANGUAGES contains "bash"): added to chroot/manifest by
# scripts/build-jail-root.py. Same format as chroot/manifest. Debian package: bash.
/usr/bin/bash
# The C.UTF-8 locale (LANG and LC_ALL in configs/python.cfg): bash warns at every start without it.
/usr/lib/locale/C.utf8
