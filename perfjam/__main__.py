import sys

from perfjam.cli import main

sys.exit(main())
