# attack: R process flood: parallel::mcparallel forks until the pids cgroup refuses
# category: exhaust
# request: {"timeout": 5}
# within: 12
# expect: status=200 result="contained"
# expect: status=422 error_type=timeout
# expect: status=422 error_type=memory_limit
main <- function() {
  started <- 0
  refused <- FALSE
  for (i in 1:500) {
    p <- tryCatch(parallel::mcparallel(Sys.sleep(30)), error = function(e) NULL)
    if (is.null(p)) { refused <- TRUE; break }
    started <- started + 1
  }
  if (refused && started < 500) "contained" else paste("started", started)
}
