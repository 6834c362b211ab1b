# Reference values for tests/test_lagged.py, computed with lme4.
#
# Run from the repository root:   Rscript tests/r/lagged_reference.R
# Needs: r-base-core, r-cran-lme4, r-cran-jsonlite (Debian packages). CI never runs R:
# the JSON files it writes (tests/reference/lagged_*.json) are committed and frozen.
#
# Every variable of the chapter-6 lagged-outcome models is built HERE, in base R, from the
# raw file, independently of the Python code (alliance.lags.lag and alliance.lagged):
#   - the lag rule: the previous session of a row is the row of the SAME patient whose
#     session is EXACTLY one less (matched by value, so a missed session gives no lag and
#     nothing is ever taken from another patient);
#   - a patient's mean of a rating: the mean of all that patient's non-missing values of the
#     rating in the file (every available session, including the last one);
#   - within part = lagged value - patient mean; between part = patient mean minus the mean
#     of the patient means over the analysed rows; the prior outcome centred on the patient
#     mean ("person") or on its mean over the analysed rows ("grand"); session centred on
#     its mean over the analysed rows;
#   - analysed rows: outcome present, previous session present, every lagged predictor and
#     (if controlled) the lagged outcome present.
# Each file holds fixed effects, vcov, variance components, logLik / REML criterion, the
# row counts, and every within/between effect per arm with the arm difference as linear
# combinations L beta with SE sqrt(L V L').

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

out_dir <- file.path("tests", "reference")
dir.create(out_dir, showWarnings = FALSE)
ctrl <- lmerControl(optimizer = "bobyqa",
                    optCtrl = list(rhobeg = 0.2, rhoend = 1e-10, maxfun = 1e5))

raw <- read.csv(file.path("src", "alliance", "data", "files", "sessions.csv"), stringsAsFactors = FALSE)
key <- paste(raw$patient, raw$session, sep = "\r")
prev_row <- match(paste(raw$patient, raw$session - 1, sep = "\r"), key)  # NA: no such row
lagged <- function(col) raw[[col]][prev_row]
pmean <- function(col) ave(raw[[col]], raw$patient, FUN = function(v) mean(v, na.rm = TRUE))

# short names used in R formulas <-> the Python column names
short <- c(alliance_therapist = "aT", alliance_patient = "aP", wellbeing = "wb")

build <- function(outcome, predictors, prior) {
  ok <- !is.na(raw[[outcome]]) & !is.na(prev_row)
  for (p in predictors) ok <- ok & !is.na(lagged(p))
  if (prior != "none") ok <- ok & !is.na(lagged(outcome))
  d <- data.frame(y = raw[[outcome]][ok], patient = factor(raw$patient[ok]),
                  therapist = factor(raw$therapist[ok]),
                  trained = as.numeric(raw$condition[ok] == "training"))
  for (p in predictors) {
    pm <- pmean(p)[ok]
    d[[paste0(short[[p]], "w")]] <- lagged(p)[ok] - pm
    d[[paste0(short[[p]], "b")]] <- pm - mean(pm)
  }
  if (prior == "person") d$prior <- lagged(outcome)[ok] - pmean(outcome)[ok]
  if (prior == "grand") d$prior <- lagged(outcome)[ok] - mean(lagged(outcome)[ok])
  d$sc <- raw$session[ok] - mean(raw$session[ok])
  list(d = d, n_first = sum(!is.na(raw[[outcome]]) & is.na(prev_row) &
                              raw$session == ave(raw$session, raw$patient, FUN = min)))
}

effects <- function(fit, predictors) {
  b <- fixef(fit); V <- as.matrix(vcov(fit)); rows <- list()
  one <- function(term, level, w) {
    L <- setNames(rep(0, length(b)), names(b)); L[names(w)] <- w
    list(term = term, level = level, estimate = sum(L * b),
         se = sqrt(as.numeric(t(L) %*% V %*% L)))
  }
  for (p in predictors) for (part in c("within", "between")) {
    v <- paste0(short[[p]], substr(part, 1, 1))
    term <- sprintf("%s (t-1) %s", p, part)
    rows[[length(rows) + 1]] <- one(term, "control", setNames(1, v))
    rows[[length(rows) + 1]] <- one(term, "training", setNames(c(1, 1), c(v, paste0("trained:", v))))
    rows[[length(rows) + 1]] <- one(term, "training - control", setNames(1, paste0("trained:", v)))
  }
  if ("prior" %in% names(b)) rows[[length(rows) + 1]] <- one("prior", "all", c(prior = 1))
  rows
}

freeze <- function(name, outcome, predictors, prior) {
  b <- build(outcome, predictors, prior)
  d <- b$d
  # book/lagged-reverse-fit/begin
  parts <- unlist(lapply(predictors, function(p) paste0(short[[p]], c("w", "b"))))
  rhs <- paste0("trained * (", paste(c(parts, "sc"), collapse = " + "), ")",
                if (prior != "none") " + prior" else "",
                " + (1 | patient) + (1 | therapist)")
  f <- as.formula(paste("y ~", rhs))
  fit <- lmer(f, data = d, REML = TRUE, control = ctrl)
  # book/lagged-reverse-fit/end
  V <- as.matrix(vcov(fit))
  vc <- as.data.frame(VarCorr(fit), order = "lower.tri")
  out <- list(
    model = name, outcome = outcome, predictors = I(predictors), prior = prior,
    formula = paste("y ~", rhs), data = "data/sessions.csv", method = "REML",
    fixed = as.list(fixef(fit)),
    vcov = lapply(seq_len(nrow(V)), function(i) as.numeric(V[i, ])),
    vcov_names = I(colnames(V)),
    varcorr = list(grp = vc$grp, vcov = vc$vcov, sdcor = vc$sdcor),
    sigma = sigma(fit), loglik = as.numeric(logLik(fit)),
    remlcrit = as.numeric(REMLcrit(fit)), nobs = nobs(fit), ngrps = as.list(ngrps(fit)),
    n_first_session = b$n_first, singular = isSingular(fit),
    design_sums = lapply(d[, c(parts, if (prior != "none") "prior", "sc")], function(v) sum(v^2)),
    effects = effects(fit, predictors),
    optimizer = "bobyqa (rhoend 1e-10)", R_version = R.version.string,
    lme4_version = as.character(packageVersion("lme4")),
    Matrix_version = as.character(packageVersion("Matrix"))
  )
  path <- file.path(out_dir, sprintf("lagged_%s.json", name))
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"), path)
  cat("wrote", path, "nobs", nobs(fit), "singular", isSingular(fit), "\n")
}

raters <- c("alliance_therapist", "alliance_patient")
freeze("forward", "wellbeing", raters, "person")            # the chapter's model
freeze("forward_grand", "wellbeing", raters, "grand")       # prior grand-mean centred
freeze("forward_noprior", "wellbeing", raters, "none")      # no prior outcome
# book/lagged-reverse-calls/begin
freeze("reverse_therapist", "alliance_therapist", "wellbeing", "person")
freeze("reverse_patient", "alliance_patient", "wellbeing", "person")
# book/lagged-reverse-calls/end
