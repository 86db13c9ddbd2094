# attack: fill memory from R: vectors kept in a list until something stops it
# category: exhaust
# request: {"memory": 64, "timeout": 10}
# within: 15
# expect: status=422 error_type=memory_limit
main <- function() {
  kept <- list()
  repeat kept[[length(kept) + 1]] <- numeric(1e6)
}
