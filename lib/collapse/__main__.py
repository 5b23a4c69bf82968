"""Command line: ``python -m collapse fetch`` (the offline data) and ``python -m collapse manifest PATH``."""

import sys

from collapse.infra import figures
from collapse.models import data

USAGE = "usage: python -m collapse fetch | manifest PATH"

if __name__ == "__main__":
    match sys.argv[1:]:
        case ["fetch"]:
            data.fetch()
        case ["manifest", path]:
            with open(path, "w") as f:
                f.write(figures.manifest())
        case _:
            sys.exit(USAGE)
