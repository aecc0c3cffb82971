"""``mixer-vit predict --workdir DIR [--step N] [--top_k 5] [--json] [--batch_size 64]
IMAGE...`` (cli.py only dispatches here).

Predicts the classes of image files (files, or folders searched recursively) with a
trained workdir's model: per image one line ``PATH: class p, class p, ...`` on stdout, or
with ``--json`` one JSON list. An unreadable image is skipped with a warning on stderr;
the exit status is 0 when at least one image was predicted, 2 when none could be read.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence

from absl import flags

from mixer_vit.errors import UserError

PROGRESS_ABOVE = 256
"""More images than this show a progress bar on stderr."""


def define_flags(fv: flags.FlagValues) -> None:
    flags.DEFINE_string("workdir", None, "A training workdir.", flag_values=fv)
    flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest).", flag_values=fv)
    flags.DEFINE_integer(
        "top_k", 5, "Classes shown per image (at most the number of classes).", flag_values=fv
    )
    flags.DEFINE_boolean(
        "json",
        False,
        'Print one JSON list of {"path", "top_k": [{"class", "index", "probability"}]}.',
        flag_values=fv,
    )
    flags.DEFINE_integer("batch_size", 64, "Images per forward pass.", flag_values=fv)


def split_paths(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Separates the IMAGE arguments from the flags, wherever they stand:
    ``--workdir DIR a.png b/ --top_k 3`` -> (["a.png", "b/"], ["--workdir", "DIR",
    "--top_k", "3"]). A flag of ``define_flags`` that takes a value takes the next
    argument unless written ``--flag=value``; everything after ``--`` is an IMAGE."""
    fv = flags.FlagValues()
    define_flags(fv)
    paths, rest, args = [], [], list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--":
            paths.extend(args)
            break
        if not arg.startswith("-") or arg == "-":
            paths.append(arg)
            continue
        rest.append(arg)
        name, equals, _ = arg.lstrip("-").partition("=")
        name = name.replace("-", "_")
        takes_value = name in fv and not isinstance(fv[name], flags.BooleanFlag)
        if takes_value and not equals and args:
            rest.append(args.pop(0))
    return paths, rest


def run_command(fv: flags.FlagValues, paths: Sequence[str]) -> int:
    """Prints the predictions of the images under ``paths``; returns the exit status."""
    from mixer_vit.predict.image_files import find_image_files
    from mixer_vit.predict.prediction_output import prediction_line

    if not fv.workdir:
        raise UserError(
            "missing --workdir; e.g. mixer-vit predict --workdir workdirs/digits pic.png"
        )
    for name in ("top_k", "batch_size"):
        if fv[name].value < 1:
            raise UserError(f"--{name} must be >= 1, got {fv[name].value}")
    files = find_image_files(paths)
    from mixer_vit.data.image_file import CHANNEL_MODES
    from mixer_vit.predict.predictor import Predictor
    from mixer_vit.train.trained_model import load_trained_model

    trained = load_trained_model(fv.workdir, fv.step)
    stored = trained.stored_image_shape
    if stored[2] not in CHANNEL_MODES:
        raise UserError(
            f"predict reads images with {', '.join(map(str, CHANNEL_MODES))} channels; the "
            f"run's data set stores {stored[2]}"
        )
    predictor = Predictor(trained, min(fv.batch_size, len(files)))
    k = min(fv.top_k, len(trained.class_names))
    records, predicted = [], 0
    for record in _predictions(files, predictor, stored, k):
        predicted += 1
        if fv.json:
            records.append(record)
        else:
            _write_line(prediction_line(record), sys.stdout)
    if fv.json:
        print(json.dumps(records, indent=1))
    if not predicted:
        _write_line(f"error: none of the {len(files)} image file(s) could be read", sys.stderr)
        return 2
    return 0


def _write_line(text: str, stream) -> None:
    """Writes a line without breaking a progress bar on the terminal."""
    from tqdm import tqdm

    tqdm.write(text, file=stream)


def _predictions(files: Sequence[str], predictor, stored_shape, k: int) -> Iterator[dict]:
    """Reads, preprocesses and predicts ``files`` one batch at a time; yields each readable
    image's record (prediction_output.prediction_record) and warns about the others."""
    from tqdm import tqdm

    from mixer_vit.data.image_file import UnreadableImage, read_image
    from mixer_vit.predict.prediction_output import prediction_record
    from mixer_vit.predict.predictor import top_k

    size = None if None in stored_shape[:2] else stored_shape[:2]
    class_names = predictor.trained.class_names
    with tqdm(
        total=len(files), unit="img", file=sys.stderr, disable=len(files) <= PROGRESS_ABOVE
    ) as bar:
        for start in range(0, len(files), predictor.batch_size):
            chunk = files[start : start + predictor.batch_size]
            readable, images = [], []
            for path in chunk:
                try:
                    image = read_image(path, stored_shape[2], size)
                except UnreadableImage as e:
                    _write_line(f"warning: skipped {e}", sys.stderr)
                    continue
                readable.append(path)
                images.append(predictor.preprocess(path, image))
            if images:
                indices, probabilities = top_k(predictor.probabilities(images), k)
                for path, index, probability in zip(readable, indices, probabilities):
                    yield prediction_record(path, index, probability, class_names)
            bar.update(len(chunk))
