#!/bin/sh
# The figures of docs/viz.md.  Run from the repository root:  sh docs/figures/viz/make-figures.sh
# It trains small_cnn on the digits (8 epochs, ~30 s on 2 CPU cores) into /tmp/viz-ckpt, then
# draws every picture with it, and a few with an untrained resnet18 on the cat photo.
set -e
OUT=docs/figures/viz
CKPT=/tmp/viz-ckpt/checkpoint.npz
[ -f $CKPT ] || python -m minicnn train --epochs 8 --out /tmp/viz-ckpt --no-progress
W="--weights $CKPT"
python -m minicnn viz filters $W --out $OUT/filters.png
python -m minicnn viz filters --model resnet18 --max-filters 32 --out $OUT/filters-resnet18-untrained.png
python -m minicnn viz features $W --layer features.0.2 --max-maps 16 --out $OUT/features.png
python -m minicnn viz features --model resnet18 --layer layer1 --max-maps 16 --out $OUT/features-resnet18-cat.png
python -m minicnn viz rf $W --layer features.1.2 --position 3 3 --channel 10 --out $OUT/rf.png
python -m minicnn viz rf $W --layer features.1.2 --position 3 3 --channel 0 --out $OUT/rf-dead.png
python -m minicnn viz saliency $W --index 0 --out $OUT/saliency.png
python -m minicnn viz gradcam $W --index 0 --layer features.1.2 --out $OUT/gradcam.png
python -m minicnn viz cam --model resnet18 --out $OUT/cam-resnet18-untrained.png
python -m minicnn viz guided $W --index 0 --out $OUT/guided.png
python -m minicnn viz occlusion $W --index 0 --size 3 --stride 1 --out $OUT/occlusion.png
python -m minicnn viz adversarial $W --index 0 --epsilon 0.05 --out $OUT/adversarial.png
python -m minicnn viz classmodel $W --out $OUT/classmodel.png
python -m minicnn viz neighbours $W --count 355 --queries 0 1 2 3 -k 5 --out $OUT/neighbours.png
python -m minicnn viz embedding $W --count 355 --out $OUT/embedding.png
# t-SNE needs scikit-learn (pip install scikit-learn; 1.9.1 drew the figure in docs/viz.md)
if python -c "import sklearn" 2>/dev/null; then
    python -m minicnn viz embedding $W --count 355 --method tsne --out $OUT/embedding-tsne.png
fi
# smaller files for the repository: 256-colour palettes (Pillow)
python -c "
import glob
from PIL import Image
for f in glob.glob('$OUT/*.png'):
    Image.open(f).convert('RGB').quantize(256).save(f, optimize=True)"
