"""`python -m torchprimer` is the same as the `torchprimer` command."""

try:
    from torchprimer.cli import main
except KeyboardInterrupt:  # Ctrl-C while Python still imports: one word and 130 as later, no traceback
    from torchprimer.training.stop_note import exit_stopped  # (--nproc's workers start this way: silently)

    exit_stopped()

if __name__ == "__main__":
    main()
