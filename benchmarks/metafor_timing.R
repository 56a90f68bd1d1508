# metafor's time for one random-effects fit with every output rplnav's rma_uni gives: the REML tau^2,
# the pooled estimate, its SE and 95% CI, the Q-profile 95% CI of tau^2 and the prediction interval
# (rma + confint + predict), on one data set.  benchmarks/meta.py calls this script when Rscript exists and
# compares the figure with its own step (a), which times the same outputs on the same data.
#
# Usage (from the repository root; needs R with metafor, e.g. apt-get install r-base-core r-cran-metafor):
#   Rscript benchmarks/metafor_timing.R [calls] [runs] [yi,yi,...] [vi,vi,...]
# calls: fits per timed run (default 200); runs: timed runs, the median is reported (default 5).
# Without yi/vi the data are the BCG vaccine trials (dat.bcg, log risk ratios from escalc, k = 13),
# the values meta.py passes.
#
# Output: one "key value" line each; us_per_fit is the median over runs of elapsed time / calls.

suppressPackageStartupMessages(library(metafor))

args <- commandArgs(trailingOnly = TRUE)
calls <- if (length(args) >= 1) as.integer(args[1]) else 200L
runs <- if (length(args) >= 2) as.integer(args[2]) else 5L
if (length(args) >= 4) {
  yi <- as.numeric(strsplit(args[3], ",")[[1]])
  vi <- as.numeric(strsplit(args[4], ",")[[1]])
} else {
  d <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
  yi <- as.numeric(d$yi)
  vi <- as.numeric(d$vi)
}

one_fit <- function() {
  r <- rma(yi, vi, method = "REML")
  ci <- confint(r)
  p <- predict(r)
  list(r = r, ci = ci, p = p)
}

res <- one_fit()
for (i in 1:20) invisible(one_fit())  # warm-up (byte compilation, first allocations)
times <- numeric(runs)
for (j in seq_len(runs)) {
  gc()
  t0 <- proc.time()[["elapsed"]]
  for (i in seq_len(calls)) invisible(one_fit())
  times[j] <- (proc.time()[["elapsed"]] - t0) / calls
}

f <- function(x) sprintf("%.17g", x)
cat("r_version", paste(R.version$major, R.version$minor, sep = "."), "\n")
cat("metafor_version", as.character(packageVersion("metafor")), "\n")
cat("k", length(yi), "\n")
cat("calls", calls, "\n")
cat("runs", runs, "\n")
cat("us_per_fit_runs", paste(sprintf("%.1f", times * 1e6), collapse = ","), "\n")
cat("us_per_fit", sprintf("%.1f", median(times) * 1e6), "\n")
cat("tau2", f(res$r$tau2), "\n")
cat("estimate", f(as.numeric(res$r$beta)), "\n")
cat("se", f(res$r$se), "\n")
cat("ci_lb", f(res$r$ci.lb), "\n")
cat("ci_ub", f(res$r$ci.ub), "\n")
cat("tau2_ci_lb", f(res$ci$random["tau^2", "ci.lb"]), "\n")
cat("tau2_ci_ub", f(res$ci$random["tau^2", "ci.ub"]), "\n")
cat("pi_lb", f(as.numeric(res$p$pi.lb)), "\n")
cat("pi_ub", f(as.numeric(res$p$pi.ub)), "\n")
