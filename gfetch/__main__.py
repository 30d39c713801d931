from gfetch.cli import main

raise SystemExit(main())
