"""`python -m convcalc`: the command line. The collector is off while the modules load (they
make no garbage worth collecting); run() freezes what they made and leaves with os._exit."""

import gc
import os
import sys

gc.disable()
try:
    from .cli import run
except KeyboardInterrupt:
    sys.stderr.write("convcalc: interrupted\n")
    os._exit(130)
finally:
    gc.enable()

run()
