# Reference values for tests/test_rsa.py (response surface analysis), computed in R.
#
# Run from the repository root:   Rscript tests/r/rsa_reference.R
# Needs: r-base-core, r-cran-lme4, r-cran-sandwich, r-cran-jsonlite (Debian packages).
# CI never runs R: the JSON files it writes (tests/reference/rsa_*.json) are committed and frozen.
#
# Written for this project from the published model definitions (no code copied from the
# RSA package or from the multilevel RSA authors' scripts):
#   * single level: lm() of the full second-order polynomial, classical vcov() and the HC0
#     sandwich (sandwich::vcovHC(type = "HC0")); the constrained models of Schoenbrodt's RSA
#     package as lm() on the reduced designs (log-likelihood by logLik(), ML);
#   * multilevel: lme4::lmer() with the specifications of Nestler, Humberg & Schoenbrodt
#     (2019, Example 1: ML, all five random slopes, level-2 means; moderated by g.s), the L1/L2
#     example (random intercept, REML, both predictors centred on their common grand mean), and
#     the chapter-5 model of the book on data/sessions.csv.
# Surface parameters: a = L b with Var(a) = L V L' (Nestler et al. 2019, Eq. 6-10).

suppressPackageStartupMessages({
  library(lme4)
  library(sandwich)
  library(jsonlite)
})

dat_dir <- file.path("tests", "data")
out_dir <- file.path("tests", "reference")
dir.create(out_dir, showWarnings = FALSE)
versions <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                 sandwich = as.character(packageVersion("sandwich")))

# rows a1..a5 on (b1..b5)
Lsurf <- rbind(a1 = c(1, 1, 0, 0, 0), a2 = c(0, 0, 1, 1, 1), a3 = c(1, -1, 0, 0, 0),
               a4 = c(0, 0, 1, -1, 1), a5 = c(0, 0, 1, 0, -1))

surface <- function(b, V) {
  a <- drop(Lsurf %*% b)
  se <- sqrt(diag(Lsurf %*% V %*% t(Lsurf)))
  data.frame(term = rownames(Lsurf), estimate = a, se = se, row.names = NULL)
}

mat <- function(V) unname(as.matrix(V))

ctrl <- lmerControl(optimizer = "bobyqa",
                    optCtrl = list(rhobeg = 0.2, rhoend = 1e-10, maxfun = 1e5))

# ------------------------------------------------------------------ single level
single <- function(file, z, x, y, name) {
  d <- read.csv(file.path(dat_dir, file))
  X <- d[[x]]; Y <- d[[y]]; Z <- d[[z]]
  D <- data.frame(z = Z, x = X, y = Y, x2 = X^2, xy = X * Y, y2 = Y^2)
  fit <- lm(z ~ x + y + x2 + xy + y2, data = D)
  b <- coef(fit)
  Vc <- vcov(fit)
  Vh <- vcovHC(fit, type = "HC0")
  idx <- c("x", "y", "x2", "xy", "y2")
  # the constrained family, as reduced designs (columns as in the RSA package's definitions)
  fam <- list(
    null = z ~ 1,
    additive = z ~ x + y,
    IA = z ~ x + y + xy,
    SQD = z ~ I((x - y)^2),
    SSQD = z ~ I(x - y) + I((x - y)^2),
    RR = z ~ I(x + y) + I((x - y)^2),
    SRR = z ~ x + y + I((x - y)^2),
    full = z ~ x + y + x2 + xy + y2
  )
  family <- lapply(names(fam), function(m) {
    f <- lm(fam[[m]], data = D)
    list(model = m, loglik = as.numeric(logLik(f)), k = length(coef(f)) + 1L,
         rss = sum(residuals(f)^2))
  })
  out <- list(
    data = file, outcome = z, x = x, y = y, n = nrow(D), center = "none",
    source = "R lm() + sandwich::vcovHC(type = 'HC0'); this script",
    versions = versions,
    terms = names(b),
    coef = unname(b),
    vcov_classical = mat(Vc),
    vcov_hc0 = mat(Vh),
    surface_classical = surface(b[idx], Vc[idx, idx]),
    surface_hc0 = surface(b[idx], Vh[idx, idx]),
    loglik = as.numeric(logLik(fit)),
    family = family
  )
  write_json(out, file.path(out_dir, paste0("rsa_", name, ".json")), digits = NA,
             auto_unbox = TRUE, pretty = TRUE)
}

single("rsa_motcon.csv", "postVA", "ePow", "iPow", "motcon")
single("rsa_motcon2.csv", "VA", "EM", "IM", "motcon2")

# ------------------------------------------------------------------ multilevel helpers
mlout <- function(fit, extra = list()) {
  V <- as.matrix(vcov(fit))
  vc <- as.data.frame(VarCorr(fit), order = "lower.tri")
  c(list(
    terms = names(fixef(fit)),
    coef = unname(fixef(fit)),
    vcov = mat(V),
    loglik = as.numeric(logLik(fit)),
    reml = isREML(fit),
    variance_components = vc,
    singular = isSingular(fit),
    versions = versions
  ), extra)
}

pick <- function(fit, base, inter, g) {
  b <- fixef(fit); V <- as.matrix(vcov(fit))
  names_all <- names(b)
  M <- matrix(0, 5, length(b))
  M[cbind(1:5, match(base, names_all))] <- 1
  M[cbind(1:5, match(inter, names_all))] <- g
  Lg <- Lsurf %*% M
  data.frame(term = rownames(Lsurf), value = g, estimate = drop(Lg %*% b),
             se = sqrt(diag(Lg %*% V %*% t(Lg))), row.names = NULL)
}

# ------------------------------------------------------------------ Nestler et al. (2019) Example 1
d1 <- read.csv(file.path(dat_dir, "mlrsa_nestler2019_example1.csv"))
d1$GroupID <- factor(d1$GroupID)
base <- c("x.c", "y.c", "x2.c", "xy.c", "y2.c")
m1 <- lmer(z ~ x.c + y.c + x2.c + xy.c + y2.c + x.mean + y.mean + x2.mean + xy.mean + y2.mean +
             (1 + x.c + y.c + x2.c + xy.c + y2.c | GroupID), data = d1, REML = FALSE, control = ctrl)
V1 <- as.matrix(vcov(m1))
write_json(mlout(m1, list(
  data = "mlrsa_nestler2019_example1.csv",
  model = "z ~ x.c + y.c + x2.c + xy.c + y2.c + x.mean + y.mean + x2.mean + xy.mean + y2.mean + (1 + x.c + y.c + x2.c + xy.c + y2.c | GroupID), REML = FALSE",
  source = "lme4::lmer (bobyqa, rhoend 1e-10); this script; specification of Nestler et al. (2019) Example 1",
  surface = surface(fixef(m1)[base], V1[base, base])
)), file.path(out_dir, "rsa_nestler_example1.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)

# moderated by the standardised level-2 variable g.s (interactions with the five terms)
m2 <- lmer(z ~ x.c + y.c + x2.c + xy.c + y2.c + g.s + g.s:x.c + g.s:y.c + g.s:x2.c + g.s:xy.c +
             g.s:y2.c + x.mean + y.mean + x2.mean + xy.mean + y2.mean +
             (1 + x.c + y.c + x2.c + xy.c + y2.c | GroupID), data = d1, REML = FALSE, control = ctrl)
inter <- names(fixef(m2))[match(paste0("g.s:", base), names(fixef(m2)))]
inter[is.na(inter)] <- paste0(base, ":g.s")[is.na(inter)]
pp <- do.call(rbind, lapply(c(-1, 0, 1), function(g) pick(m2, base, inter, g)))
write_json(mlout(m2, list(
  data = "mlrsa_nestler2019_example1.csv",
  model = "z ~ (x.c + y.c + x2.c + xy.c + y2.c) * g.s + x.mean + y.mean + x2.mean + xy.mean + y2.mean + (1 + x.c + y.c + x2.c + xy.c + y2.c | GroupID), REML = FALSE",
  source = "lme4::lmer (bobyqa, rhoend 1e-10); this script; pick-a-point a(g) = L (b + g b_g) with Var = L M V M' L'",
  pick_a_point = pp
)), file.path(out_dir, "rsa_nestler_example1_moderated.json"), digits = NA, auto_unbox = TRUE,
pretty = TRUE)

# ------------------------------------------------------------------ L1/L2 example (random intercept, REML)
d2 <- read.csv(file.path(dat_dir, "mlrsa_nestler_L1L2_example.csv"))
d2$SV <- ave(d2$IV, d2$state)
gm <- mean(c(d2$IV, d2$SV))
d2$x <- d2$IV - gm; d2$y <- d2$SV - gm
d2$x2 <- d2$x^2; d2$xy <- d2$x * d2$y; d2$y2 <- d2$y^2
d2$state <- factor(d2$state)
m3 <- lmer(selfesteem ~ x + y + x2 + xy + y2 + (1 | state), data = d2, REML = TRUE, control = ctrl)
idx <- c("x", "y", "x2", "xy", "y2")
V3 <- as.matrix(vcov(m3))
write_json(mlout(m3, list(
  data = "mlrsa_nestler_L1L2_example.csv",
  model = "selfesteem ~ x + y + x2 + xy + y2 + (1 | state), REML; x = IV, y = state mean of IV, both centred on mean(c(IV, SV))",
  center = gm,
  source = "lme4::lmer (bobyqa, rhoend 1e-10); this script; specification of the authors' L1/L2 example (Humberg & Nestler, OSF jhyu9)",
  surface = surface(fixef(m3)[idx], V3[idx, idx])
)), file.path(out_dir, "rsa_L1L2.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)

# ------------------------------------------------------------------ chapter 5 on the shipped synthetic data
s <- read.csv(file.path("src", "alliance", "data", "files", "sessions.csv"))
key <- paste(s$patient, s$session)
prev <- match(paste(s$patient, s$session - 1), key)   # same patient, exactly one session earlier
s$x_raw <- s$alliance_therapist[prev]
s$y_raw <- s$alliance_patient[prev]
cc <- s[!is.na(s$wellbeing) & !is.na(s$x_raw) & !is.na(s$y_raw), ]
c5 <- mean(c(cc$x_raw, cc$y_raw))
cc$x <- cc$x_raw - c5; cc$y <- cc$y_raw - c5
cc$x2 <- cc$x^2; cc$xy <- cc$x * cc$y; cc$y2 <- cc$y^2
cc$trained <- as.numeric(cc$condition == "training")
cc$therapist <- factor(cc$therapist); cc$patient <- factor(cc$patient)
m5 <- lmer(wellbeing ~ x + y + x2 + xy + y2 + trained + trained:x + trained:y + trained:x2 +
             trained:xy + trained:y2 + session + (1 | therapist) + (1 | patient),
           data = cc, REML = FALSE, control = ctrl)
b5 <- fixef(m5)
inter5 <- names(b5)[match(paste0("trained:", idx), names(b5))]
inter5[is.na(inter5)] <- paste0(idx, ":trained")[is.na(inter5)]
per_arm <- rbind(cbind(level = "control", pick(m5, idx, inter5, 0)),
                 cbind(level = "training", pick(m5, idx, inter5, 1)))
V5 <- as.matrix(vcov(m5))
diff <- surface(b5[inter5], V5[inter5, inter5])
write_json(mlout(m5, list(
  data = "data/sessions.csv",
  model = "wellbeing ~ (x + y + x2 + xy + y2) * trained + session + (1 | therapist) + (1 | patient), REML = FALSE; x, y = therapist- and patient-rated alliance of the same patient exactly one session earlier, centred on their pooled mean over the rows used",
  center = c5, n = nrow(cc),
  source = "lme4::lmer (bobyqa, rhoend 1e-10); this script",
  per_arm = per_arm, difference = diff
)), file.path(out_dir, "rsa_chapter5.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)

cat("wrote", length(list.files(out_dir, pattern = "^rsa_")), "rsa_*.json files\n")
