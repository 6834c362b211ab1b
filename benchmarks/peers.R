# Times lme4 (and nlme for a residual variance per rater) on the jobs benchmarks/bench_peers.py
# writes: the same rows and design columns the package fits, one CSV per model and scale.
#
#   Rscript benchmarks/peers.R JOBS.json OUT.json
#
# JOBS.json: a list of jobs {name, csv, formula (lme4 syntax), reml, reps, timeout, nlme:
# {fixed, random: {group: one-sided formula}, weights_by} or null}. Each fit is timed as a user
# runs it (default settings, model frame built from the data frame), the minimum elapsed time of
# `reps` fits is kept (reading the CSV is not timed); a fit that does not finish within `timeout`
# seconds is reported as such. OUT.json: per job the times, logLik and the package versions.
# Not part of the tests (CI never runs R).

suppressPackageStartupMessages({
  library(lme4)
  library(nlme)
  library(jsonlite)
})

# nlme's default iteration limits stop short on the stacked model (4 x 4 covariances at two
# levels): the limits of tests/r/varident_reference.R, its default tolerances
ctl <- lmeControl(maxIter = 500, msMaxIter = 500, niterEM = 100, msMaxEval = 5000)

args <- commandArgs(trailingOnly = TRUE)
jobs <- fromJSON(args[1], simplifyVector = FALSE)

time_fit <- function(fun, reps, timeout) {
  best <- Inf
  fit <- NULL
  err <- NULL
  for (i in seq_len(reps)) {
    res <- tryCatch({
      setTimeLimit(elapsed = timeout, transient = TRUE)
      on.exit(setTimeLimit(elapsed = Inf), add = TRUE)
      t <- system.time(f <- fun())[["elapsed"]]
      setTimeLimit(elapsed = Inf)
      list(t = t, f = f)
    }, error = function(e) {
      setTimeLimit(elapsed = Inf)
      list(error = conditionMessage(e))
    })
    if (!is.null(res$error)) {
      err <- res$error
      break
    }
    if (res$t < best) best <- res$t
    fit <- res$f
  }
  list(seconds = if (is.finite(best)) best else NULL, fit = fit, error = err)
}

out <- list()
for (job in jobs) {
  d <- read.csv(job$csv, stringsAsFactors = FALSE)
  for (g in job$groups) d[[g]] <- factor(d[[g]])
  row <- list(name = job$name, nobs = nrow(d))
  if (!is.null(job$formula)) {
    fml <- as.formula(job$formula)
    r <- time_fit(function() suppressMessages(lmer(fml, data = d, REML = isTRUE(job$reml))),
                  job$reps, job$timeout)
    row$lme4_seconds <- r$seconds
    row$lme4_error <- r$error
    if (!is.null(r$fit)) row$lme4_loglik <- as.numeric(logLik(r$fit))
  }
  if (!is.null(job$nlme)) {
    nj <- job$nlme
    rnd <- lapply(nj$random, function(s) pdSymm(as.formula(s)))
    wts <- varIdent(form = as.formula(paste("~ 1 |", nj$weights_by)))
    r <- time_fit(function() lme(as.formula(nj$fixed), random = rnd, data = d, weights = wts,
                                 method = if (isTRUE(job$reml)) "REML" else "ML",
                                 control = ctl),
                  job$reps, job$timeout)
    row$nlme_seconds <- r$seconds
    row$nlme_error <- r$error
    if (!is.null(r$fit)) row$nlme_loglik <- as.numeric(logLik(r$fit))
  }
  cat(sprintf("  R: %-28s lme4 %s  nlme %s\n", job$name,
              if (is.null(row$lme4_seconds)) "-" else sprintf("%.3f s", row$lme4_seconds),
              if (is.null(row$nlme_seconds)) "-" else sprintf("%.3f s", row$nlme_seconds)))
  out[[length(out) + 1]] <- row
}
res <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
            nlme = as.character(packageVersion("nlme")),
            Matrix = as.character(packageVersion("Matrix")), jobs = out)
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, null = "null", na = "null"), args[2])
