#!/usr/bin/env bash
# Regenerates the committed example reports. Run from anywhere:  bash reports/regenerate.sh
#   reports/alexnet-smic40  cost-only plan, seconds: paper 001 Table 8 "Ours" keep fractions on
#                           AlexNet (227x227) evaluated on the smic40-admmnn preset
#   reports/vgg7-search     the README's co-design command: vgg7 on Fashion-MNIST, max drop 1.0
#                           point at 95% confidence, the DP allocator (see the README for the time)
#   reports/vgg7-fig5-dp    the paper 001 Fig. 5 loop and the DP allocator side by side on vgg7
#                           (seed 0 of benchmarks/search_vgg7.py; about 55 min of one core:
#                           copy benchmarks/.cache/search_vgg7/seed0 here first to replay it)
# Each search run's evaluations are in its evaluations.jsonl: a re-run with the final/ checkpoint
# present (it is not committed) replays them.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
$py -m codesign plan alexnet --input-shape 1x3x227x227 --hw smic40-admmnn \
    --sparsity reports/alexnet-smic40/table8-ours.json --report reports/alexnet-smic40
$py -m codesign search vgg7 --data fashion-mnist --max-drop 1.0 --out reports/vgg7-search
$py -m codesign search vgg7 --data fashion-mnist --hw smic40-admmnn --max-drop 1.0 \
    --allocator fig5,dp --train-limit 32000 --validation 8000 \
    --train-epochs 1 --final-epochs 2 --probe-epochs 0.1 --out reports/vgg7-fig5-dp
# what a run directory holds besides its report and logs is not committed
rm -rf reports/*/final reports/*/.codesign.lock
