from cio_desktop.cli import main

raise SystemExit(main())
