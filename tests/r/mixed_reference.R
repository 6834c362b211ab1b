# Reference values for tests/test_mixed.py, computed with lme4.
#
# Run from the repository root:   Rscript tests/r/mixed_reference.R
# Needs: r-base-core, r-cran-lme4, r-cran-jsonlite (Debian packages). CI never runs R:
# the JSON files it writes (tests/reference/mixed_*.json) are committed and frozen.
#
# Each file holds, for one model and one criterion (REML or ML): fixed effects,
# the full vcov() (lme4's GLS covariance sigma^2 (X'V^-1 X)^-1), theta, the
# variance components (as.data.frame(VarCorr())), sigma, logLik, deviance or
# REML criterion, the optimizer used and the R / lme4 versions.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

dat_dir <- file.path("tests", "data")
out_dir <- file.path("tests", "reference")
dir.create(out_dir, showWarnings = FALSE)

sleep <- read.csv(file.path(dat_dir, "growth_sleepstudy.csv"))
sleep$Subject <- factor(sleep$Subject)
orth <- read.csv(file.path(dat_dir, "growth_orthodont.csv"))
orth$Subject <- factor(orth$Subject)
diet <- read.csv(file.path(dat_dir, "growth_dietox.csv"))
diet$Pig <- factor(diet$Pig)
nest <- read.csv(file.path(dat_dir, "mixed_nested.csv"))
nest$cluster <- factor(nest$cluster)
nest$subject <- factor(nest$subject)

# A strict optimizer set-up so that the frozen numbers are lme4's optimum to high
# precision (the defaults stop a little earlier on flat likelihoods).
ctrl <- lmerControl(optimizer = "bobyqa",
                    optCtrl = list(rhobeg = 0.2, rhoend = 1e-10, maxfun = 1e5))

models <- list(
  sleepstudy = list(formula = Reaction ~ Days + (Days | Subject), data = sleep,
                    file = "growth_sleepstudy.csv"),
  sleepstudy_diag = list(formula = Reaction ~ Days + (1 | Subject) + (0 + Days | Subject),
                         data = sleep, file = "growth_sleepstudy.csv"),
  sleepstudy_nodays = list(formula = Reaction ~ 1 + (Days | Subject), data = sleep,
                           file = "growth_sleepstudy.csv"),
  orthodont = list(formula = distance ~ age + (age | Subject), data = orth,
                   file = "growth_orthodont.csv"),
  dietox = list(formula = Weight ~ Time + (Time | Pig), data = diet,
                file = "growth_dietox.csv"),
  nested = list(formula = y ~ time + (1 | cluster) + (time | subject), data = nest,
                file = "mixed_nested.csv")
)

for (nm in names(models)) {
  m <- models[[nm]]
  for (reml in c(TRUE, FALSE)) {
    fit <- lmer(m$formula, data = m$data, REML = reml, control = ctrl)
    V <- as.matrix(vcov(fit))
    vc <- as.data.frame(VarCorr(fit), order = "lower.tri")
    out <- list(
      model = nm,
      formula = paste(deparse(m$formula), collapse = " "),
      data = m$file,
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
    path <- file.path(out_dir, sprintf("mixed_%s_%s.json", nm, tolower(out$method)))
    writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"), path)
    cat("wrote", path, "\n")
  }
}
