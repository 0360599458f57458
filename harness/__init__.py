"""A runtime fault-injection harness for Nova's resource accounting."""
