# Wall-clock timings of lme4 (and lmerTest) on the book's chapter models, for the speed
# comparison printed by benchmarks/bench_mixed.py (issue 11 item 6: every fit of a draw of
# the four findings at least as fast as lme4 on the same model).
#
# Run from the repository root:   Rscript tests/r/lme4_timings.R
# Writes benchmarks/frozen/lme4_timings.json. CI never runs R. Timings depend on the machine:
# the JSON records R's and the packages' versions and the CPU; compare them with the Python
# timings on the same machine (bench_mixed.py prints both).
#
# Each model is fitted `reps` times with lme4's default optimizer settings (what a user runs);
# the minimum elapsed time is recorded, for
#   lme4:      lme4::lmer(formula, data, REML)                   (fit only, default checks)
#   lmerTest:  lmerTest::lmer(...) + summary() Satterthwaite table (the Hessian of the
#              deviance and the Jacobian of vcov, as the Python fit's default ddf)

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(jsonlite)
})
source(file.path("tests", "r", "chapter_models.R"))

reps <- 7
time_min <- function(expr_fun) {
  t <- numeric(reps)
  for (i in seq_len(reps)) t[i] <- system.time(expr_fun())[["elapsed"]]
  min(t)
}

models <- chapter_models()
rows <- list()
for (name in names(models)) {
  m <- models[[name]]
  lme4_s <- time_min(function() lme4::lmer(m$formula, data = m$data, REML = m$REML))
  lt_s <- time_min(function() {
    fit <- lmerTest::lmer(m$formula, data = m$data, REML = m$REML)
    summary(fit)$coefficients
  })
  fit <- lme4::lmer(m$formula, data = m$data, REML = m$REML)
  rows[[length(rows) + 1]] <- list(model = name, lme4_seconds = lme4_s,
                                   lmerTest_seconds = lt_s, nobs = nobs(fit),
                                   singular = isSingular(fit),
                                   loglik = as.numeric(logLik(fit)))
  cat(sprintf("%-24s lme4 %.3f s   lmerTest %.3f s\n", name, lme4_s, lt_s))
}
cpu <- tryCatch(trimws(sub(".*: ", "", grep("model name", readLines("/proc/cpuinfo"), value = TRUE)[1])),
                error = function(e) NA)
out <- list(
  about = paste("Minimum of", reps, "wall-clock fits per model on the machine below;",
                "lme4::lmer with default settings (fit only) and lmerTest::lmer + summary()",
                "(Satterthwaite table). Produced by tests/r/lme4_timings.R."),
  R = R.version.string, lme4 = as.character(packageVersion("lme4")),
  lmerTest = as.character(packageVersion("lmerTest")),
  Matrix = as.character(packageVersion("Matrix")), cpu = cpu,
  cores = parallel::detectCores(), date = format(Sys.time(), "%Y-%m-%d"),
  models = rows
)
dir.create(file.path("benchmarks", "frozen"), showWarnings = FALSE)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path("benchmarks", "frozen", "lme4_timings.json"))
cat("wrote benchmarks/frozen/lme4_timings.json\n")
