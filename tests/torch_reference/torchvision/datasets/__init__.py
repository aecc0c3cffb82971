"""Stand-in (see ../../README.md): every data set class name resolves to a placeholder
that refuses to be used."""


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)

    class Unavailable:
        def __init__(self, *args, **kwargs):
            raise RuntimeError(f"torchvision.datasets.{name} is not available in the stand-in")

    Unavailable.__name__ = name
    return Unavailable
