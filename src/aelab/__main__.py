try:  # Ctrl-C while the libraries load: one line, not a traceback
    from aelab.cli import main
except KeyboardInterrupt:
    import sys

    print("aelab: interrupted", file=sys.stderr)
    raise SystemExit(130) from None

if __name__ == "__main__":  # not when a documentation tool imports the package's modules to read them
    raise SystemExit(main())
