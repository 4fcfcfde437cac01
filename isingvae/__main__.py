"""``python -m isingvae`` is the same as the ``isingvae`` console script."""

if __name__ == "__main__":
    from isingvae.cli import main

    raise SystemExit(main())
