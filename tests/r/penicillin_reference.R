# Reference values for a crossed design: lme4's Penicillin data (Davies & Goldsmith 1972;
# lme4's example of fully crossed random effects), for tests/test_mixed.py and
# tests/test_mixed_statsmodels.py.
#
# Run from the repository root:   Rscript tests/r/penicillin_reference.R
# Needs: r-base-core, r-cran-lme4, r-cran-jsonlite (Debian packages). CI never runs R:
# the data file and the JSON files it writes are committed and frozen.
#
# Writes tests/data/mixed_penicillin.csv (lme4's data set as it ships) and
# tests/reference/mixed_penicillin_{reml,ml}.json in the format of mixed_reference.R.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

dat_dir <- file.path("tests", "data")
out_dir <- file.path("tests", "reference")
data("Penicillin", package = "lme4")
pen <- data.frame(diameter = Penicillin$diameter,
                  plate = as.character(Penicillin$plate),
                  sample = as.character(Penicillin$sample))
write.csv(pen, file.path(dat_dir, "mixed_penicillin.csv"), row.names = FALSE)

ctrl <- lmerControl(optimizer = "bobyqa",
                    optCtrl = list(rhobeg = 0.2, rhoend = 1e-10, maxfun = 1e5))
f <- diameter ~ 1 + (1 | plate) + (1 | sample)
for (reml in c(TRUE, FALSE)) {
  fit <- lmer(f, data = pen, REML = reml, control = ctrl)
  V <- as.matrix(vcov(fit))
  vc <- as.data.frame(VarCorr(fit), order = "lower.tri")
  out <- list(
    model = "penicillin",
    formula = paste(deparse(f), collapse = " "),
    data = "mixed_penicillin.csv",
    method = if (reml) "REML" else "ML",
    fixed = as.list(fixef(fit)),
    vcov = lapply(seq_len(nrow(V)), function(i) as.numeric(V[i, ])),
    vcov_names = I(colnames(V)),
    theta = I(as.numeric(getME(fit, "theta"))),
    theta_names = I(names(getME(fit, "theta"))),
    varcorr = list(grp = vc$grp, var1 = vc$var1, var2 = vc$var2,
                   vcov = vc$vcov, sdcor = vc$sdcor),
    sigma = sigma(fit),
    loglik = as.numeric(logLik(fit)),
    deviance_or_remlcrit = if (reml) as.numeric(REMLcrit(fit)) else as.numeric(deviance(fit)),
    aic = AIC(fit),
    bic = BIC(fit),
    nobs = nobs(fit),
    ngrps = as.list(ngrps(fit)),
    singular = isSingular(fit),
    optimizer = "bobyqa (rhoend 1e-10)",
    R_version = R.version.string,
    lme4_version = as.character(packageVersion("lme4")),
    Matrix_version = as.character(packageVersion("Matrix"))
  )
  path <- file.path(out_dir, sprintf("mixed_penicillin_%s.json", tolower(out$method)))
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"), path)
  cat("wrote", path, "\n")
}
