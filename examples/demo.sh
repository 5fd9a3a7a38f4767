#!/bin/sh
# examples/demo.sh -- `make demo`: the main job on the shipped real dataset.
# Fits each calibration method built into bin/calib on the validation split of
# DenseNet-40 / CIFAR-10 (data/cifar10_densenet40_markus93, MIT, M. Kängsepp)
# and prints accuracy, NLL, Brier and ECE-15 on the test split before and after,
# next to the figures published for these exact logits (Kull et al. 2019).
set -eu
CALIB=${CALIB:-bin/calib}
D=data/cifar10_densenet40_markus93
OUT=${DEMO_OUT:-build/demo}
mkdir -p "$OUT"

field() { # field NAME JSON -> the number after "NAME":
  printf '%s\n' "$2" | sed -n "s/.*\"$1\": *\([-+0-9.eEinfaul]*\).*/\1/p" | head -1
}
row() { # row LABEL EVAL_JSON  (a null metric, e.g. NLL = +inf when a true class got p = 0, prints "inf")
  printf '%s\n' "$1" "$(field accuracy "$2")" "$(field nll "$2")" "$(field brier "$2")" "$(field ece "$2")" |
    awk 'NR == 1 { printf "%-22s", $0; next }
         { if ($0 == "" || $0 == "null") printf " %9s", "inf"; else printf " %9.4f", $0 }
         END { printf "\n" }'
}

echo "libcalib demo: DenseNet-40 on CIFAR-10 (logits by M. Kängsepp, MIT; see data/README.md)"
echo "fit on $D/val (5000 rows), evaluate on $D/test (10000 rows), 15 equal-width bins"
echo
printf '%-22s %9s %9s %9s %9s\n' "calibration" "accuracy" "NLL" "Brier" "ECE-15"
before=$($CALIB eval --logits $D/test/logits.npy --labels $D/test/labels.npy --bins 15 --json)
row "none (raw logits)" "$before"

T=""
for method in temperature platt beta vector matrix dirichlet ets isotonic histogram; do
  model="$OUT/$method.calib"
  if ! fit=$($CALIB fit --method $method --logits $D/val/logits.npy --labels $D/val/labels.npy \
              -o "$model" --json 2>"$OUT/$method.err"); then
    if grep -q "not built" "$OUT/$method.err"; then continue; fi
    printf '%-22s fit failed: %s\n' "$method" "$(head -1 "$OUT/$method.err")"
    continue
  fi
  [ "$method" = temperature ] && T=$(field temperature "$fit")
  after=$($CALIB eval --logits $D/test/logits.npy --labels $D/test/labels.npy --model "$model" --bins 15 --json)
  row "$method" "$after"
  if [ "$method" = temperature ]; then svg_model="$model"; ts_after="$after"; fi
done
echo
echo "fitted temperature T = $T"
echo "published for these logits (meta.json): T ~ 2.883 (workshop notebook); ECE-15 0.0550 -> 0.0095,"
echo "  NLL 0.4301 -> 0.2251 (exact NLL; 0.4282 with sklearn's 1e-15 clipping), Brier/k 0.012738 -> 0.010997"
echo "  (Kull et al., NeurIPS 2019, dirichletcal/experiments_dnn)"
# The check: our before/after figures must agree with the published ones.
agree=$(awk -v T="$T" -v eb="$(field ece "$before")" -v nb="$(field nll "$before")" \
            -v ea="$(field ece "${ts_after:-}")" -v na="$(field nll "${ts_after:-}")" 'BEGIN {
  ok = (T - 2.883 < 5e-4 && 2.883 - T < 5e-4) && (eb - 0.055003 < 1e-6 && 0.055003 - eb < 1e-6) &&
       (nb - 0.430059 < 1e-6 && 0.430059 - nb < 1e-6) && (ea - 0.009464 < 2e-6 && 0.009464 - ea < 2e-6) &&
       (na - 0.225086 < 1e-6 && 0.225086 - na < 1e-6);
  print ok ? "yes" : "NO" }')
echo "agreement with the published figures (T to 5e-4, ECE/NLL to 1e-6..2e-6): $agree"
[ "$agree" = yes ] || exit 1
if $CALIB eval --help 2>&1 | grep -q -- "--svg"; then
  $CALIB eval --logits $D/test/logits.npy --labels $D/test/labels.npy --model "${svg_model:-$OUT/temperature.calib}" \
    --bins 15 --svg "$OUT/reliability.svg" >/dev/null
  echo
  echo "reliability diagram (before | after temperature scaling): $OUT/reliability.svg"
fi
