# The R language (SANDBOX_LANGUAGES contains "r"): added to chroot/manifest by
# scripts/build-jail-root.py. Same format as chroot/manifest. Debian packages: r-base-core and
# r-cran-jsonlite. The jail runs R's own binary (bin/exec/R, --vanilla) with R_HOME and the other
# variables configs/r.cfg sets, not the `R`/`Rscript` shell wrappers, which read /etc/R.
# R_HOME: the binary, libR.so, the base packages, and site-library (jsonlite). Not bin/'s shell
# scripts (R, Rscript, INSTALL, ...): they read /etc/R and call tools the jail does not have.
/usr/lib/R/bin/exec
/usr/lib/R/lib
/usr/lib/R/library
/usr/lib/R/modules
/usr/lib/R/site-library
# R reads its system Renviron at every start, even --vanilla, and prints "cannot find system
# Renviron" on stdout without it. Debian links it into the host's /etc/R: the jail gets a file of its
# own instead (chroot/R/Renviron), so that its /etc stays chroot/etc. Not the other links into /etc/R
# (Makeconf, ldpaths, Rprofile.site, repositories): for building packages, or not read --vanilla.
put /usr/lib/R/etc/Renviron R/Renviron
# R_SHARE_DIR and R_INCLUDE_DIR.
/usr/share/R
# libR.so's link where the loader finds it without ld.so.cache (ldd resolves /lib/libR.so).
/usr/lib/libR.so
# The C.UTF-8 locale (LANG and LC_ALL in configs/python.cfg): R and Bash set it at start-up.
/usr/lib/locale/C.utf8
# Sys.which(), which utils' start-up calls, runs `which` (debianutils' shell script, through the
# alternatives link).
/usr/bin/which
