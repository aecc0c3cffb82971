"""``mixer-vit predict``: class probabilities of image files from a trained workdir.

image_files.py finds the image files named on the command line (files and folders),
mixer_vit.data.image_file reads one into the uint8 layout the run's data set stores, predictor.py
runs the model's eval forward on batches of them, prediction_output.py writes the lines
(or JSON), command.py is the command itself.
"""
