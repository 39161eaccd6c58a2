import sys

from skinfindings.cli import main

sys.exit(main())
