"""`python -m torchprimer` is the same as the `torchprimer` command."""

from torchprimer.cli import main

if __name__ == "__main__":
    main()
