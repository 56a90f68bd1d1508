# Generate additional metafor reference cases for rplnav.evidence.
#
# Usage (from the repository root, needs R with metafor >= 3.8 and jsonlite):
#   Rscript tests/evidence/make_reference.R tests/evidence/metafor-reference-extra.json
#
# On Debian 12: apt-get install -y --no-install-recommends r-base-core r-cran-metafor r-cran-jsonlite r-cran-metadat
#
# Cases: every tau^2 estimator x test (z, knha, adhoc) at full convergence with Q-profile CIs, prediction
# intervals, leave-one-out and cumulative results; MH (OR, RR, RD) and Peto fits; zero-cell and
# double-zero datasets; a subgroup analysis with the test for subgroup differences.  The JSON layout is the
# one of metafor-reference-subset.json (ids, inputs, outputs), so tests/evidence/test_extra_reference.py can
# reuse the same comparisons.

suppressPackageStartupMessages({ library(metafor); library(jsonlite) })

args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else "tests/evidence/metafor-reference-extra.json"
oracle <- sprintf("R %s, metafor %s", paste(R.version$major, R.version$minor, sep = "."), as.character(packageVersion("metafor")))
ctrl <- list(tol = 1e-15, threshold = 1e-14, maxiter = 10000, stepadj = 0.5)
num <- function(x) if (is.null(x) || length(x) == 0) NULL else unname(as.numeric(x))
nn <- function(x) { x <- num(x); if (is.null(x)) return(NULL); lapply(x, function(v) if (is.na(v)) NULL else v) }

# ---- datasets: list(name, note, slab, ai, n1i, ci, n2i, measures)
datasets <- list()
add_ds <- function(name, note, slab, ai, n1i, ci, n2i, measures) {
  datasets[[length(datasets) + 1]] <<- list(name = name, note = note, slab = as.character(slab), ai = ai, n1i = n1i,
                                            ci = ci, n2i = n2i, measures = measures)
}
d <- dat.nielweise2007
add_ds("dat.nielweise2007", "catheter-related bloodstream infection; zero cells and a double-zero study",
       paste(d$author, d$year), d$ai, d$n1i, d$ci, d$n2i, c("OR", "RR", "RD"))
d <- dat.li2007
add_ds("dat.li2007", "magnesium and mortality; single-zero studies", paste(d$study, d$year), d$ai, d$n1i, d$ci, d$n2i, c("OR"))
d <- dat.hine1989
add_ds("dat.hine1989", "prophylactic lidocaine and mortality", d$source, d$ai, d$n1i, d$ci, d$n2i, c("RD", "OR"))
d <- dat.bcg
add_ds("dat.bcg", "BCG vaccine (risk difference with zero-free cells)", paste(d$author, d$year), d$tpos, d$tpos + d$tneg,
       d$cpos, d$cpos + d$cneg, c("RD"))

uni_case <- function(ds, measure, method, test) {
  es <- escalc(measure = measure, ai = ds$ai, n1i = ds$n1i, ci = ds$ci, n2i = ds$n2i, add = 1/2, to = "only0",
               drop00 = measure != "RD")
  keep <- !is.na(es$yi)
  res <- if (method == "EE") rma(es$yi, es$vi, method = "EE") else
    rma(es$yi, es$vi, method = method, test = test, control = ctrl)
  pr <- predict(res)
  out <- list(k = res$k, estimate = num(res$beta), se = res$se, stat = res$zval, pval = res$pval, ci_lb = res$ci.lb,
              ci_ub = res$ci.ub, tau2 = res$tau2, se_tau2 = num(res$se.tau2), I2 = res$I2, H2 = res$H2, Q = res$QE,
              Q_df = res$k - 1, Q_pval = res$QEp, weights_pct = num(weights(res)),
              pred = list(pi_lb = num(pr$pi.lb), pi_ub = num(pr$pi.ub)))
  if (method != "EE" && res$k > 1) {
    ci <- confint(res, control = list(tol = 1e-13, tau2.max = 1e4))
    out$confint_qprofile <- list(tau2 = num(ci$random["tau^2", ]), I2 = num(ci$random["I^2(%)", ]),
                                 H2 = num(ci$random["H^2", ]), order = "estimate, ci_lb, ci_ub")
  }
  if (res$k > 2) {
    l1 <- leave1out(res, control = ctrl)
    out$leave1out <- list(estimate = num(l1$estimate), se = num(l1$se), tau2 = num(l1$tau2), Q = num(l1$Q))
    cu <- cumul(res, control = ctrl)
    out$cumul <- list(estimate = num(cu$estimate), se = num(cu$se), tau2 = num(cu$tau2), Q = num(cu$Q))
  }
  list(id = sprintf("%s/%s/%s/%s", ds$name, measure, if (method == "EE") "IV-fixed" else paste0("RE-", method), test),
       dataset = ds$name, dataset_note = ds$note, measure = measure,
       method = if (method == "EE") "IV-fixed" else paste0("RE-", method),
       options = list(add = 0.5, to = "only0", drop00 = measure != "RD", test = test, control = ctrl), oracle = oracle,
       inputs = list(slab = ds$slab, ai = ds$ai, n1i = ds$n1i, ci = ds$ci, n2i = ds$n2i, yi = nn(es$yi), vi = nn(es$vi)),
       outputs = out)
}

mh_case <- function(ds, measure) {
  res <- rma.mh(measure = measure, ai = ds$ai, n1i = ds$n1i, ci = ds$ci, n2i = ds$n2i, add = 1/2, to = "only0",
                drop00 = measure != "RD")
  es <- escalc(measure = measure, ai = ds$ai, n1i = ds$n1i, ci = ds$ci, n2i = ds$n2i, add = 1/2, to = "only0",
               drop00 = measure != "RD")
  list(id = sprintf("%s/%s/MH/exact", ds$name, measure), dataset = ds$name, measure = measure, method = "MH",
       options = list(add = 0.5, to = "only0", drop00 = measure != "RD", mh_cc = "none"), oracle = oracle,
       inputs = list(slab = ds$slab, ai = ds$ai, n1i = ds$n1i, ci = ds$ci, n2i = ds$n2i, yi = nn(es$yi), vi = nn(es$vi)),
       outputs = list(k = res$k, k_used = res$k.yi, estimate = num(res$beta), se = res$se, stat = res$zval,
                      pval = res$pval, ci_lb = res$ci.lb, ci_ub = res$ci.ub, Q = res$QE, Q_df = res$k.yi - 1,
                      Q_pval = res$QEp, I2 = res$I2, H2 = res$H2, weights_pct = nn(weights(res)),
                      CMH = num(res$MH), CMH_pval = num(res$MHp), tarone = num(res$TA), tarone_pval = num(res$TAp)))
}

peto_case <- function(ds) {
  res <- rma.peto(ai = ds$ai, n1i = ds$n1i, ci = ds$ci, n2i = ds$n2i, add = 1/2, to = "only0", drop00 = TRUE)
  list(id = sprintf("%s/OR/Peto", ds$name), dataset = ds$name, measure = "OR", method = "Peto",
       options = list(drop00 = TRUE), oracle = oracle,
       inputs = list(slab = ds$slab, ai = ds$ai, n1i = ds$n1i, ci = ds$ci, n2i = ds$n2i),
       outputs = list(k = res$k, k_used = res$k.yi, estimate = num(res$beta), se = res$se, stat = res$zval,
                      pval = res$pval, ci_lb = res$ci.lb, ci_ub = res$ci.ub, Q = res$QE, Q_df = res$k.yi - 1,
                      Q_pval = res$QEp, I2 = res$I2, H2 = res$H2, weights_pct = nn(weights(res))))
}

cases <- list()
methods <- c("DL", "REML", "ML", "PM", "HE", "SJ", "EB", "HS", "HSk", "PMM")
for (ds in datasets) {
  for (m in ds$measures) {
    cases[[length(cases) + 1]] <- uni_case(ds, m, "EE", "z")
    for (meth in methods) for (tst in c("z", "knha", "adhoc")) {
      cs <- tryCatch(uni_case(ds, m, meth, tst), error = function(e) NULL)
      if (!is.null(cs)) cases[[length(cases) + 1]] <- cs
    }
    cases[[length(cases) + 1]] <- mh_case(ds, m)
    if (m == "OR") cases[[length(cases) + 1]] <- peto_case(ds)
  }
}

# ---- subgroup analysis: dat.bcg by allocation, REML within subgroups, IV fixed-effect Q between
d <- dat.bcg
es <- escalc(measure = "RR", ai = d$tpos, bi = d$tneg, ci = d$cpos, di = d$cneg)
sub <- list()
for (g in unique(d$alloc)) {
  r <- rma(es$yi[d$alloc == g], es$vi[d$alloc == g], method = "REML", control = ctrl)
  sub[[g]] <- list(k = r$k, estimate = num(r$beta), se = r$se, tau2 = r$tau2, Q = r$QE)
}
b <- sapply(sub, function(s) s$estimate); s <- sapply(sub, function(s) s$se)
qb <- rma(b, sei = s, method = "EE")
cases[[length(cases) + 1]] <- list(
  id = "dat.bcg/RR/RE-REML/subgroups(alloc)", dataset = "dat.bcg", measure = "RR", method = "RE-REML",
  options = list(subgroups = as.character(d$alloc), test_subgroup = "IV fixed-effect Q between subgroup RE estimates"),
  oracle = oracle,
  inputs = list(slab = paste(d$author, d$year), ai = d$tpos, n1i = d$tpos + d$tneg, ci = d$cpos, n2i = d$cpos + d$cneg),
  outputs = c(sub, list(subgroup_Q = qb$QE, subgroup_df = qb$k - 1, subgroup_pval = qb$QEp)))

writeLines(toJSON(cases, auto_unbox = TRUE, digits = I(15), null = "null", na = "null", pretty = FALSE), out_file)
cat(sprintf("wrote %d cases to %s\n", length(cases), out_file))
