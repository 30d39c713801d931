from gfetch.app.cli import main

raise SystemExit(main())
