"""The browser tests use the same server and chromium helpers as `fleet bench ui`."""

from bench._browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, chromium, free_port, serve

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "SCREENSHOTS", "chromium", "free_port", "serve"]
