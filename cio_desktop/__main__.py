import multiprocessing

# A frozen build starts its worker processes (cio_desktop.parallel) by running this same executable:
# freeze_support() turns such a start into the worker instead of a second app. Spawned workers import
# this module under another name, so the guard keeps them from starting the app too.
if __name__ == "__main__":
    multiprocessing.freeze_support()
    from cio_desktop.cli import main

    raise SystemExit(main())
