"""The ``snudeploy`` command line; each command lives in its own module."""
