# Reference values for the cubic model family of a MODERATED surface (tests/test_rsa_lrt.py).
#
# Run from the repository root:  Rscript tests/r/rsa_cubic_moderated_reference.R
# CI never runs R: the JSON it writes (tests/reference/rsa_cubic_moderated.json) is frozen.
# Base R only (lm); RSA itself has no moderated surfaces.
#
# Data: RSA's motcon (tests/data/rsa_motcon.csv, predictors uncentred) with a constructed binary
# moderator g = (row - 1) mod 2 (rows 1, 3, 5, ... level "a" = 0; rows 2, 4, ... level "b" = 1),
# synthetic, for validation only. Each model constrains the cubic polynomial b1..b9 to the column
# space of a weight matrix C (columns: terms; rows: X, Y, X^2, XY, Y^2, X^3, X^2Y, XY^2, Y^3), on
# both levels: the design is [1, g, P C, g P C] (P the nine polynomial terms), fitted by lm (OLS =
# ML for the coefficients; logLik is the ML log-likelihood). Level a's coefficients are C c_0,
# level b's C (c_0 + c_1), their difference C c_1; u1..u3 and v1..v3 (Humberg et al. 2022) are
# linear in them, with lm's classical covariance.

d <- read.csv(file.path("tests", "data", "rsa_motcon.csv"))
x <- d$ePow
y <- d$iPow
z <- d$postVA
g <- (seq_len(nrow(d)) - 1) %% 2
P <- cbind(x, y, x^2, x * y, y^2, x^3, x^2 * y, x * y^2, y^3)
e <- function(i) { v <- numeric(9); v[i] <- 1; v }
sqd <- c(0, 0, 1, -2, 1, 0, 0, 0, 0)
cube_d <- c(0, 0, 0, 0, 0, 1, -3, 3, -1)
level_sqd <- c(0, 0, 0, 0, 0, 1, -1, -1, 1)
xpy <- c(1, 1, 0, 0, 0, 0, 0, 0, 0)
models <- list(
  SQD = cbind(sqd), CA = cbind(sqd, cube_d), CL = cbind(sqd, level_sqd),
  RRCA = cbind(xpy, sqd, cube_d), RRCL = cbind(xpy, sqd, level_sqd),
  full = sapply(1:5, e), cubic = sapply(1:9, e))
U <- rbind(c(1, 1, 0, 0, 0, 0, 0, 0, 0), c(0, 0, 1, 1, 1, 0, 0, 0, 0), c(0, 0, 0, 0, 0, 1, 1, 1, 1),
           c(1, -1, 0, 0, 0, 0, 0, 0, 0), c(0, 0, 1, -1, 1, 0, 0, 0, 0), c(0, 0, 0, 0, 0, 1, -1, 1, -1))
quantities <- c("u1", "u2", "u3", "v1", "v2", "v3")

out <- list(source = "base R lm, run by tests/r/rsa_cubic_moderated_reference.R",
            R = R.version.string, data = "rsa_motcon.csv with g = (row - 1) mod 2", models = list())
for (m in names(models)) {
  C <- models[[m]]
  k <- ncol(C)
  PC <- P %*% C
  D <- cbind(1, g, PC, g * PC)
  fit <- lm(z ~ 0 + D)
  b <- coef(fit)
  V <- vcov(fit)
  # rows of the coefficients -> b1..b9 per level
  A <- cbind(0, 0, C, matrix(0, 9, k))
  B <- cbind(0, 0, C, C)
  Dm <- cbind(0, 0, matrix(0, 9, k), C)
  lev <- list()
  for (lab in c("a", "b", "difference")) {
    W <- U %*% switch(lab, a = A, b = B, difference = Dm)
    lev[[lab]] <- data.frame(term = quantities, estimate = as.vector(W %*% b),
                             se = sqrt(diag(W %*% V %*% t(W))))
  }
  out$models[[m]] <- c(list(loglik = as.numeric(logLik(fit)), k = ncol(D) + 1), lev)
}
jsonlite::write_json(out, file.path("tests", "reference", "rsa_cubic_moderated.json"), digits = NA,
                     auto_unbox = TRUE, pretty = TRUE)
cat("written\n")
