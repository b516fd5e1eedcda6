#!/usr/bin/env bash
# Regenerates the committed example reports. Run from anywhere:  bash reports/regenerate.sh
#   reports/alexnet-smic40  cost-only plan, seconds: paper 001 Table 8 "Ours" keep fractions on
#                           AlexNet (227x227) evaluated on the smic40-admmnn preset
#   reports/lenet5-search   a full hardware-aware search on LeNet-5 / Fashion-MNIST, Fig. 5 loop
#                           and DP allocator side by side (10-20 min on 2 cores). Its evaluations
#                           are cached in evaluations.jsonl: with the pretrain/ and final/
#                           checkpoints present (they are not committed), a re-run replays them.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
$py -m codesign plan alexnet --input-shape 1x3x227x227 --hw smic40-admmnn \
    --sparsity reports/alexnet-smic40/table8-ours.json --report reports/alexnet-smic40
$py -m codesign search lenet5 --data fashion-mnist --hw smic40-admmnn --max-drop 0.5 \
    --method admm --allocator fig5,dp --train-limit 12000 --test-limit 2000 --validation 2000 \
    --pretrain-epochs 10 --train-epochs 1 --final-epochs 3 --probe-epochs 0.1 --lr 5e-4 \
    --out reports/lenet5-search
