"""``python -m dualtts ...``: the same as the ``dualtts`` console command."""
from dualtts.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
