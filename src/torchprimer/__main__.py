"""`python -m torchprimer`, and the `torchprimer` command's entry point (`run`).

Importing the CLI takes a moment; Ctrl-C in it ends the command as a stop does later (one word and exit
status 130; silently, with the stop note, in a worker of `train --nproc`, which starts this way), not with
a traceback. So the entry point is here, where nothing heavy is imported yet, not in torchprimer.cli.
"""


def run() -> None:
    try:
        from torchprimer.cli import main
    except KeyboardInterrupt:
        from torchprimer.training.stop_note import exit_stopped

        exit_stopped()
    main()


if __name__ == "__main__":
    run()
