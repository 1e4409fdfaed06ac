"""`python -m smsgate` is the same as the `smsgate` command."""

from smsgate.cli import main

if __name__ == "__main__":
    main()
