# attack: fill the disk from R: the working directory until it refuses, the read-only root and R's own library
# category: exhaust
# request: {"timeout": 10}
# expect: status=200 result="contained"
main <- function() {
  breaches <- character()
  con <- file("big", "wb")
  chunk <- raw(1048576)
  written <- 0
  ok <- tryCatch({ for (i in 1:2048) { writeBin(chunk, con); written <- written + 1 }; TRUE },
                 error = function(e) FALSE, warning = function(w) FALSE)
  try(close(con), silent = TRUE)
  if (ok && file.size("big") >= 2048 * 1048576) breaches <- c(breaches, "wrote 2 GiB")
  unlink("big")
  for (d in c("/", "/usr", "/etc", "/usr/lib/R/library", "/usr/lib/R/site-library")) {
    wrote <- tryCatch(suppressWarnings(file.create(file.path(d, "psa-attack"))), error = function(e) FALSE)
    if (isTRUE(wrote)) breaches <- c(breaches, paste("wrote in", d))
  }
  installed <- tryCatch(suppressWarnings(install.packages("jsonlite", repos = "https://cloud.r-project.org",
                                                           lib = "/tmp")), error = function(e) NULL)
  if (dir.exists("/tmp/jsonlite")) breaches <- c(breaches, "installed a package from CRAN")
  if (length(breaches)) breaches else "contained"
}
