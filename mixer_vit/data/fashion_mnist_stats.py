"""Fashion-MNIST pixel statistics, shared by every experiment that normalises it.

Mean and standard deviation of all pixels of the 60,000 training images on the 0..1 scale
(uint8 / 255): the values a ``normalize(mean,std)`` preprocessing op takes, so that the
inputs are roughly zero-mean and unit-variance. Scalars, because the images are grey
``[28, 28, 1]``.
"""

PIXEL_MEAN = 0.2860
PIXEL_STD = 0.3530
NORMALIZE_OP = f"normalize({PIXEL_MEAN:.4f},{PIXEL_STD:.4f})"  # normalize(0.2860,0.3530)
