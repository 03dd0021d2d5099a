"""``python -m monitor`` is the same program as ``absence-monitor``."""

from monitor.cli.main import main

if __name__ == "__main__":
    main()
