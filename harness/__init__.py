"""A runtime fault-injection harness for Nova's resource accounting."""
import os as _os

if _os.environ.get("HARNESS_MUTANT"):
    # A mutation-analysis child process (python -m harness mutate): serve the
    # mutant Nova module before anything in the harness can import the real one.
    from harness.mutate import loader as _loader
    _loader.install_from_env()
