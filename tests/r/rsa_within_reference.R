# Reference values for tests/test_specifications.py: chapter 5's within-patient surface
# (patient means of the five polynomial terms at level 2, Nestler, Humberg & Schoenbrodt 2019)
# on the shipped synthetic data, computed in R with lme4 and lmerTest.
#
# Run from the repository root:   Rscript tests/r/rsa_within_reference.R
# Needs: lme4, lmerTest, jsonlite. CI never runs R: the JSON it writes
# (tests/reference/rsa_within_chapter5.json) is committed and frozen.
#
# Written for this project from the model definition (no code copied): the chapter-5 lagged
# surface (well-being on therapist- and patient-rated alliance of the same patient exactly one
# session earlier, centred on their pooled mean over the rows used, moderated by arm, session
# as covariate, random intercepts of therapist and patient, ML) plus each patient's means of
# x, y, x^2, xy, y^2 over the rows used as fixed effects, each interacted with the arm (so each
# arm's a1..a5 are within-patient: no between-patient association is borrowed across arms; the
# same a1..a5 as centring all five terms at each patient's mean).
# Surface parameters a = L b, Var(a) = L V L'; Satterthwaite df of each a by
# lmerTest::contest(joint = FALSE).

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(jsonlite)
})

out_dir <- file.path("tests", "reference")
versions <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                 lmerTest = as.character(packageVersion("lmerTest")))
ctrl <- lmerControl(optimizer = "bobyqa",
                    optCtrl = list(rhobeg = 0.2, rhoend = 1e-10, maxfun = 1e5))
Lsurf <- rbind(a1 = c(1, 1, 0, 0, 0), a2 = c(0, 0, 1, 1, 1), a3 = c(1, -1, 0, 0, 0),
               a4 = c(0, 0, 1, -1, 1), a5 = c(0, 0, 1, 0, -1))
idx <- c("x", "y", "x2", "xy", "y2")

# book/within-surface/begin
s <- read.csv(file.path("src", "alliance", "data", "files", "sessions.csv"))
key <- paste(s$patient, s$session)
prev <- match(paste(s$patient, s$session - 1), key)   # same patient, exactly one session earlier
s$x_raw <- s$alliance_therapist[prev]
s$y_raw <- s$alliance_patient[prev]
cc <- s[!is.na(s$wellbeing) & !is.na(s$x_raw) & !is.na(s$y_raw), ]
c5 <- mean(c(cc$x_raw, cc$y_raw))
cc$x <- cc$x_raw - c5; cc$y <- cc$y_raw - c5
cc$x2 <- cc$x^2; cc$xy <- cc$x * cc$y; cc$y2 <- cc$y^2
for (v in idx) cc[[paste0("mean_", v)]] <- ave(cc[[v]], cc$patient)
cc$trained <- as.numeric(cc$condition == "training")
cc$therapist <- factor(cc$therapist); cc$patient <- factor(cc$patient)

m <- lmerTest::lmer(wellbeing ~ x + y + x2 + xy + y2 + trained + trained:x + trained:y +
                      trained:x2 + trained:xy + trained:y2 + session + mean_x + mean_y +
                      mean_x2 + mean_xy + mean_y2 + trained:mean_x + trained:mean_y +
                      trained:mean_x2 + trained:mean_xy + trained:mean_y2 +
                      (1 | therapist) + (1 | patient),
                    data = cc, REML = FALSE, control = ctrl)
# book/within-surface/end
b <- fixef(m); V <- as.matrix(vcov(m))
inter <- paste0("trained:", idx)
inter[!inter %in% names(b)] <- paste0(idx, ":trained")[!inter %in% names(b)]

surface_rows <- function(level, g_base, g_inter) {
  M <- matrix(0, 5, length(b))
  M[cbind(1:5, match(idx, names(b)))] <- g_base
  M[cbind(1:5, match(inter, names(b)))] <- g_inter
  L <- Lsurf %*% M
  ct <- contest(m, L, joint = FALSE, ddf = "Satterthwaite")
  data.frame(level = level, term = rownames(Lsurf), estimate = drop(L %*% b),
             se = sqrt(diag(L %*% V %*% t(L))), df = ct$df, p = ct[["Pr(>|t|)"]],
             row.names = NULL)
}
surf <- rbind(surface_rows("control", 1, 0), surface_rows("training", 1, 1),
              surface_rows("difference", 0, 1))
vc <- as.data.frame(VarCorr(m), order = "lower.tri")

write_json(list(
  data = "src/alliance/data/files/sessions.csv (synthetic)",
  model = paste("wellbeing ~ (x + y + x2 + xy + y2) * trained + session +",
                "(mean_x + mean_y + mean_x2 + mean_xy + mean_y2) * trained +",
                "(1 | therapist) + (1 | patient), REML = FALSE;",
                "x, y = therapist- and patient-rated alliance of the same patient exactly one",
                "session earlier, centred on their pooled mean over the rows used; mean_* = the",
                "patient's mean of each term over the rows used"),
  source = "lme4::lmer (bobyqa, rhoend 1e-10) via lmerTest; Satterthwaite df by lmerTest::contest; this script",
  center = c5, n = nrow(cc), terms = names(b), coef = unname(b),
  loglik = as.numeric(logLik(m)), singular = isSingular(m),
  variance_components = vc, surface = surf, versions = versions
), file.path(out_dir, "rsa_within_chapter5.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("wrote rsa_within_chapter5.json\n")
