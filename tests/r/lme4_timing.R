# lme4 timings of the five models of one draw of chapter 7's replication study, on the same designs.
#
# Run from the repository root:
#   .venv/bin/python benchmarks/bench_studies.py --export /tmp/designs
#   Rscript tests/r/lme4_timing.R /tmp/designs
# Needs r-base-core, r-cran-lme4, r-cran-jsonlite. CI never runs R: the JSON it writes
# (benchmarks/frozen/lme4_timing.json) is committed and printed by `make bench` beside the
# package's own timings. These are timings, not reference values: they depend on the machine.
#
# Each design (exported from the package's own engine call on the shipped synthetic data
# src/alliance/data/files/sessions.csv) holds the response y, the fixed-effect columns x0..,
# the grouping factors g_<name> and the random-effect columns z_<name>_<k>; designs.json gives
# the method and the random terms. The model fitted is exactly the package's:
#   y ~ 0 + x0 + x1 + ... + (0 + z_patient_0 + z_patient_1 | g_patient) + (0 + z_therapist_0 | g_therapist)
# (unstructured covariance within each term), REML or ML as the package fits it, with lme4's
# default optimizer settings (what a user of lmer gets). Time: median elapsed seconds of
# `repeats` calls of lmer (formula parsing and model set-up included, as lmer does them).

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args)) args[1] else "/tmp/designs"
repeats <- 7
meta <- fromJSON(file.path(dir, "designs.json"), simplifyVector = FALSE)
out <- list(
  meta = list(
    source = "tests/r/lme4_timing.R on designs exported by benchmarks/bench_studies.py --export",
    data = "src/alliance/data/files/sessions.csv",
    data_md5 = unname(tools::md5sum(file.path("src", "alliance", "data", "files", "sessions.csv"))),
    R_version = R.version.string,
    lme4_version = as.character(packageVersion("lme4")),
    machine = paste(Sys.info()[["machine"]], Sys.info()[["sysname"]],
                    paste(parallel::detectCores(), "cores")),
    date = format(Sys.Date()),
    repeats = repeats,
    statistic = "median elapsed seconds of lmer()"
  ),
  models = list()
)

for (model in names(meta)) {
  d <- read.csv(file.path(dir, paste0(model, ".csv")), stringsAsFactors = FALSE)
  xcols <- grep("^x[0-9]+$", names(d), value = TRUE)
  bars <- character(0)
  for (term in meta[[model]]$terms) {
    g <- paste0("g_", term$name)
    d[[g]] <- factor(d[[g]])
    zcols <- grep(paste0("^z_", term$name, "_"), names(d), value = TRUE)
    lhs <- if (length(zcols)) paste(c("0", zcols), collapse = " + ") else "1"
    bars <- c(bars, sprintf("(%s | %s)", lhs, g))
  }
  f <- as.formula(paste("y ~ 0 +", paste(xcols, collapse = " + "), "+", paste(bars, collapse = " + ")))
  reml <- meta[[model]]$method == "REML"
  times <- numeric(repeats)
  for (r in seq_len(repeats)) {
    times[r] <- system.time(fit <- suppressMessages(suppressWarnings(
      lmer(f, data = d, REML = reml))))[["elapsed"]]
  }
  out$models[[model]] <- list(
    formula = paste(deparse(f, width.cutoff = 500), collapse = " "),
    method = meta[[model]]$method, n = nrow(d),
    seconds = median(times), seconds_all = times,
    loglik = as.numeric(logLik(fit)),
    singular = isSingular(fit)
  )
  cat(sprintf("%-18s %7.3f s  logLik %.4f\n", model, median(times), as.numeric(logLik(fit))))
}

dir.create(file.path("benchmarks", "frozen"), showWarnings = FALSE)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path("benchmarks", "frozen", "lme4_timing.json"))
cat("wrote benchmarks/frozen/lme4_timing.json\n")
