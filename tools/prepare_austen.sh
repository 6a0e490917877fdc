#!/usr/bin/env bash
# Jane Austen's six novels (Debian's r-cran-janeaustenr: an R data package) as plain text for the
# Llama fine-tuning run: .cache/data/austen/train.txt (Sense and Sensibility, Pride and Prejudice,
# Mansfield Park, Emma, Northanger Abbey) and valid.txt (the first ~60 KB of Persuasion, held out).
# Installs r-base-core + r-cran-janeaustenr (no recommends) when missing. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=.cache/data/austen
if [ -s "$OUT/train.txt" ] && [ -s "$OUT/valid.txt" ]; then echo "$OUT"; exit 0; fi
if ! dpkg-query -W -f='${Status}' r-cran-janeaustenr 2>/dev/null | grep -q "install ok installed"; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends r-base-core r-cran-janeaustenr
fi
mkdir -p "$OUT"
Rscript -e 'library(janeaustenr)
out <- commandArgs(trailingOnly = TRUE)[1]
train <- c(sensesensibility, prideprejudice, mansfieldpark, emma, northangerabbey)
writeLines(train, file.path(out, "train.txt"))
writeLines(head(persuasion, 1200), file.path(out, "valid.txt"))' "$OUT"
wc -c "$OUT"/train.txt "$OUT"/valid.txt >&2
echo "$OUT"
