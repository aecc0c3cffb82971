"""Active learning: score an unlabelled pool with a trained classifier, pick the images
to label next (uncertainty, BALD/BatchBALD, core-set, BADGE, random), and compare the
strategies' learning curves against random sampling."""
