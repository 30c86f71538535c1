"""`python -m kt_nasrepair`: a small offline search, end to end (see `kt_nasrepair.cli`)."""

from kt_nasrepair.cli import main  # sets TF_CPP_MIN_LOG_LEVEL before anything loads TensorFlow

if __name__ == "__main__":
    raise SystemExit(main())
