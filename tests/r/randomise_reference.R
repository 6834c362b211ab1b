# Reference values for the ICCs and design effects of tests/test_randomise.py, computed with lme4.
#
# Run from the repository root:   Rscript tests/r/randomise_reference.R
# Needs: r-base-core, r-cran-lme4, r-cran-jsonlite (Debian packages). CI never runs R:
# the JSON file it writes (tests/reference/randomise_icc.json) is committed and frozen.
#
# Model, for each rating y in alliance_patient, alliance_therapist, wellbeing of the shipped
# synthetic data (data/sessions.csv; rows with missing y dropped), REML and ML:
#     lmer(y ~ 1 + (1 | therapist) + (1 | patient))
# (patient ids are unique across therapists, so this is the nested three-level model).
# Written per model: variance components, fixed intercept, logLik, and the ICCs and design
# effects computed here from lme4's components and caseloads counted in R, so that both the
# fitter and the arithmetic of alliance.randomise.icc are checked independently.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

data_file <- file.path("src", "alliance", "data", "files", "sessions.csv")
out_dir <- file.path("tests", "reference")
dir.create(out_dir, showWarnings = FALSE)
dat <- read.csv(data_file, stringsAsFactors = FALSE)

ctrl <- lmerControl(optimizer = "bobyqa",
                    optCtrl = list(rhobeg = 0.2, rhoend = 1e-10, maxfun = 1e5))

out <- list(
  data = data_file,
  data_md5 = unname(tools::md5sum(data_file)),
  formula = "y ~ 1 + (1 | therapist) + (1 | patient)",
  optimizer = "bobyqa (rhoend 1e-10)",
  R_version = R.version.string,
  lme4_version = as.character(packageVersion("lme4")),
  Matrix_version = as.character(packageVersion("Matrix")),
  models = list()
)

# book/icc/begin
for (measure in c("alliance_patient", "alliance_therapist", "wellbeing")) {
  d <- dat[!is.na(dat[[measure]]), ]
  d$y <- d[[measure]]
  d$therapist <- factor(d$therapist)
  d$patient <- factor(d$patient)
  caseload <- tapply(d$patient, d$therapist, function(p) length(unique(p)))
  m_bar <- mean(caseload)
  cv <- sqrt(mean((caseload - m_bar)^2)) / m_bar          # SD with divisor J
  n_bar <- mean(table(droplevels(d$patient)))
  n_pat <- length(unique(d$patient))
  for (reml in c(TRUE, FALSE)) {
    fit <- lmer(y ~ 1 + (1 | therapist) + (1 | patient), data = d, REML = reml, control = ctrl)
    vc <- as.data.frame(VarCorr(fit))
    v_t <- vc$vcov[vc$grp == "therapist"]
    v_p <- vc$vcov[vc$grp == "patient"]
    v_e <- vc$vcov[vc$grp == "Residual"]
    tot <- v_t + v_p + v_e
    rho_t <- v_t / tot
    rho_p <- (v_t + v_p) / tot
    de_p <- 1 + (m_bar - 1) * rho_t
    de_cv <- 1 + ((1 + cv^2) * m_bar - 1) * rho_t
    de_s <- 1 + (n_bar - 1) * rho_p + n_bar * (m_bar - 1) * rho_t
# book/icc/end
    key <- sprintf("%s_%s", measure, if (reml) "reml" else "ml")
    out$models[[key]] <- list(
      measure = measure,
      method = if (reml) "REML" else "ML",
      nobs = nobs(fit),
      ngrps = as.list(ngrps(fit)),
      intercept = unname(fixef(fit)[1]),
      var_therapist = v_t, var_patient = v_p, var_residual = v_e,
      loglik = as.numeric(logLik(fit)),
      singular = isSingular(fit),
      icc_therapist = rho_t, icc_patient = rho_p,
      patients_per_therapist = m_bar, cv = cv, sessions_per_patient = n_bar,
      n_patients = n_pat,
      design_effect = de_p, design_effect_cv = de_cv, design_effect_sessions = de_s,
      n_effective = n_pat / de_p, n_effective_cv = n_pat / de_cv,
      n_effective_sessions = nrow(d) / de_s
    )
  }
}

path <- file.path(out_dir, "randomise_icc.json")
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"), path)
cat("wrote", path, "\n")
