"""The dispatcher's web page: static ES modules, labels in two languages, served by the API app.

`mount_web(app)` serves the page at `/` and its assets under `/ui/`; the charting
library comes from `fleet/web/node_modules` (installed by `npm ci --prefix fleet/web`).
"""

from fleet.web.mount import WEB_DIR, mount_web

__all__ = ["WEB_DIR", "mount_web"]
