"""`python -m kt_nasrepair`: a small offline search, end to end (see `kt_nasrepair.cli`)."""

import os

# NOTE: before anything can load TensorFlow (the package itself imports lazily).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kt_nasrepair.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
