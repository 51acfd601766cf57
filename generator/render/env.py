"""A jinja2 environment that looks up ``x.name`` on a plain dict by key first.

Jinja tries ``getattr`` before ``[]``; on a dict that costs an ``AttributeError`` for every
``r.title`` in a template, which is most of the lookups on a record page. For a plain ``dict``
this environment tries the key first and falls back to jinja's own rule (attributes, then
``Undefined``), so a template sees the same values, only sooner. Escaping is unchanged.
"""

from __future__ import annotations

from typing import Any

import jinja2


class Environment(jinja2.Environment):
    """Also: templates are not re-checked on disk for every page (``auto_reload`` off); a build
    reads each template once."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("auto_reload", False)
        super().__init__(**options)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)
