#!/usr/bin/env bash
# Open-Stage as a peer of the shared ETL benchmark (/work/shared/bench/run.sh).
#   openstage-peer.sh W1|W2|W3|W4|W7|W8 INDIR OUTDIR     (writes OUTDIR/w1.csv .. w8.csv)
# Runs bench/jobs/wN.yaml with bench/bin/openstage (built by bench/run.sh), or
# $OPENSTAGE if set. Extra arguments go to `openstage run` (e.g. --workers 1).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 3 ] || { echo "usage: $0 W1|W2|W3|W4|W7|W8 INDIR OUTDIR [openstage run flags]" >&2; exit 2; }
w=$(echo "$1" | tr 'A-Z' 'a-z')
case $w in w1 | w2 | w3 | w4 | w7 | w8) ;; *) echo "$0: unknown workload '$1' (want W1..W4, W7, W8)" >&2; exit 2 ;; esac
mkdir -p "$3"
# Job-file paths are relative to the job file's folder, so pass absolute ones.
in=$(realpath "$2") out=$(realpath "$3")
shift 3
exec "${OPENSTAGE:-$here/bin/openstage}" run "$here/jobs/$w.yaml" --quiet \
  --param "in_dir=$in" --param "out_dir=$out" "$@"
