"""``python -m weightwarden``: the same command as ``weightwarden`` (useful where the script is not on PATH)."""

from weightwarden.cli.main import run

if __name__ == "__main__":
    run()
