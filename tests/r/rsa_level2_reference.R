# Level-2 variances of the surface parameters a1-a5 in a random-slope response surface model
# (Nestler, Humberg & Schoenbrodt 2019): for group-specific slopes u_j of b1..b5 with covariance
# G, a_kj = a_k + l_k' u_j, so Var(a_kj) = l_k' G l_k (l_k the rows of L: a1 = b1 + b2, ...).
#
# Run from the repository root:   Rscript tests/r/rsa_level2_reference.R
# Needs: r-cran-lme4, r-cran-lmertest, r-cran-numderiv, r-cran-jsonlite (Debian packages).
# CI never runs R: the JSON file (tests/reference/rsa_level2_nestler_example1.json) is frozen.
#
# Model: Example 1, ML (as Nestler et al.), five random slopes, level-2 means as covariates
# (the specification of tests/r/rsa_reference.R). The variances come from lme4's VarCorr;
# their standard errors from the delta method: the Jacobian of l' sigma^2 Lambda Lambda' l
# with respect to (theta, sigma) by numDeriv, and the covariance of (theta, sigma) that
# lmerTest uses for Satterthwaite's method (twice the inverse Hessian of the deviance).

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(numDeriv)
  library(jsonlite)
})
d1 <- read.csv(file.path("tests", "data", "mlrsa_nestler2019_example1.csv"))
d1$GroupID <- factor(d1$GroupID)
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-10, maxfun = 1e5))
fit <- lmerTest::lmer(z ~ x.c + y.c + x2.c + xy.c + y2.c + x.mean + y.mean + x2.mean + xy.mean +
                        y2.mean + (1 + x.c + y.c + x2.c + xy.c + y2.c | GroupID),
                      data = d1, REML = FALSE, control = ctrl)
Lsurf <- rbind(a1 = c(1, 1, 0, 0, 0), a2 = c(0, 0, 1, 1, 1), a3 = c(1, -1, 0, 0, 0),
               a4 = c(0, 0, 1, -1, 1), a5 = c(0, 0, 1, 0, -1))
slopes <- c("x.c", "y.c", "x2.c", "xy.c", "y2.c")
G <- as.matrix(VarCorr(fit)$GroupID)[slopes, slopes]
q <- 6
level2 <- function(varpar) {
  theta <- varpar[-length(varpar)]; sigma <- varpar[length(varpar)]
  Lam <- matrix(0, q, q)
  Lam[lower.tri(Lam, diag = TRUE)] <- theta          # lme4's column-wise lower triangle
  Gfull <- sigma^2 * Lam %*% t(Lam)
  Gs <- Gfull[2:6, 2:6]
  drop(apply(Lsurf, 1, function(l) t(l) %*% Gs %*% l))
}
varpar <- c(getME(fit, "theta"), sigma(fit))
v <- level2(varpar)
stopifnot(isTRUE(all.equal(unname(v), unname(drop(apply(Lsurf, 1, function(l) t(l) %*% G %*% l))),
                           tolerance = 1e-10)))
J <- numDeriv::jacobian(level2, varpar)
A <- fit@vcov_varpar
se <- sqrt(diag(J %*% A %*% t(J)))
out <- list(
  data = "mlrsa_nestler2019_example1.csv",
  model = "z ~ x.c + y.c + x2.c + xy.c + y2.c + x.mean + y.mean + x2.mean + xy.mean + y2.mean + (1 + x.c + y.c + x2.c + xy.c + y2.c | GroupID), REML = FALSE",
  loglik = as.numeric(logLik(fit)),
  level2 = data.frame(term = rownames(Lsurf), variance = unname(v), sd = sqrt(unname(v)),
                      se = se),
  source = paste("lme4", as.character(packageVersion("lme4")), "VarCorr; SEs: numDeriv",
                 as.character(packageVersion("numDeriv")), "Jacobian x lmerTest",
                 as.character(packageVersion("lmerTest")), "vcov_varpar; tests/r/rsa_level2_reference.R"),
  R_version = R.version.string
)
path <- file.path("tests", "reference", "rsa_level2_nestler_example1.json")
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), path)
cat("wrote", path, "\n"); print(out$level2)
