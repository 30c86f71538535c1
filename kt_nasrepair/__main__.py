"""`python -m kt_nasrepair`: a small offline search, end to end."""

from kt_nasrepair.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
