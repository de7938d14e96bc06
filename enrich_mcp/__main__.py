import sys

from enrich_mcp.cli import main

if __name__ == "__main__":
    sys.exit(main())
