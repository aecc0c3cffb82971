"""Plots of finished (or running) training workdirs: ``mixer-vit plot``.

- ``curves.png``: train and validation loss and accuracy, and the learning rate, against
  the step, one colour per run (curve_data.py, curves_plot.py);
- ``confusion.png``: the test split's row-normalised confusion matrix (confusion_plot.py);
- ``reliability.png``: the reliability diagram with ECE (reliability_plot.py);
- ``index.html``: every image with the runs' key numbers (index_page.py).

``make_plots`` writes them for one or several workdirs; ``tensorboard_images`` writes the
same figures into a run's TensorBoard files when it ends. Figures are drawn on
matplotlib's Agg canvas without pyplot (canvas.py). Importing the package loads nothing;
the training loop imports ``tensorboard_images`` only.
"""
