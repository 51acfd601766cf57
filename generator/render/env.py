"""A jinja2 environment that looks up ``x.name`` on a plain dict by key first.

Jinja tries ``getattr`` before ``[]``; on a dict that costs an ``AttributeError`` for every
``r.title`` in a template, which is most of the lookups on a record page. For a plain ``dict``
this environment tries the key first and falls back to jinja's own rule (attributes, then
``Undefined``), so a template sees the same values, only sooner. Escaping is unchanged.

Calls from a template (``link(...)``, ``canonical_url(...)``: a dozen on every page) go through
``Context.call``, which asks each callable whether it wants the context, the eval context or the
environment passed in. A plain Python function or method that jinja's decorators did not mark wants
none of them; ``Context`` below calls those directly and leaves everything else to jinja.

Every ``{{ value }}`` on an autoescaped page is passed through ``markupsafe.escape``, which wraps
its result in a new ``Markup`` object, only for jinja to join it into the page text at once: a
couple of hundred times per record page. ``CodeGenerator`` below makes these output expressions
call ``escape_output`` instead, which returns the same escaped text as a plain ``str`` (markupsafe's
own escaping, without the wrapper). Only output expressions change: values passed to filters,
tests, calls and ``{% set %}`` are escaped (or not) exactly as before.

A template's globals are a ``ChainMap`` of its own globals over the environment's. Every context
jinja makes (each page, and each ``{% include %}`` in it: about nine per record) copies them into
a dict and a set, and copying a ``ChainMap`` goes key by key through Python code: about ten
microseconds each time. ``Template.new_context`` below hands jinja the same globals already merged
into a plain dict, made afresh for each context (so a global added later is still seen).
"""

from __future__ import annotations

from collections import ChainMap
from types import FunctionType, MethodType
from typing import Any

import jinja2
import jinja2.compiler
import jinja2.nodes
import jinja2.runtime
import markupsafe
from markupsafe import Markup, escape

# markupsafe's escaping of a plain str (its C speedup when built), without the Markup wrapper
_escape_str: Any = getattr(markupsafe, "_escape_inner", None) or (lambda s: str(escape(s)))


def escape_output(value: Any) -> str:
    """The text of ``markupsafe.escape(value)``, for jinja to put on the page."""
    if type(value) is str:
        text: str = _escape_str(value)
        return text
    if type(value) is Markup:
        return value
    return str(escape(value))


class CodeGenerator(jinja2.compiler.CodeGenerator):
    def _output_child_pre(self, node: jinja2.nodes.Expr, frame: jinja2.compiler.Frame, finalize: Any) -> None:
        if frame.eval_ctx.volatile or not frame.eval_ctx.autoescape:
            super()._output_child_pre(node, frame, finalize)
            return
        self.write("environment.escape_output(")
        if finalize.src is not None:
            self.write(finalize.src)


class Context(jinja2.runtime.Context):
    def call(__self, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        fn = __obj.__func__ if type(__obj) is MethodType else __obj
        # jinja's pass_context/pass_eval_context/pass_environment set ``jinja_pass_arg`` on the
        # function; a function without it gets exactly the arguments written in the template.
        if type(fn) is not FunctionType or "jinja_pass_arg" in fn.__dict__:
            return super().call(__obj, *args, **kwargs)
        if kwargs:
            kwargs.pop("_block_vars", None)
            kwargs.pop("_loop_vars", None)
        try:
            return __obj(*args, **kwargs)
        except StopIteration:  # as jinja does
            return __self.environment.undefined(
                "value was undefined because a callable raised a StopIteration exception"
            )


class Template(jinja2.Template):
    def new_context(
        self,
        vars: dict[str, Any] | None = None,
        shared: bool = False,
        locals: Any = None,
    ) -> jinja2.runtime.Context:
        merged: Any = self.globals
        if type(merged) is ChainMap:
            # later maps are overlaid by earlier ones, as in the ChainMap
            flat: dict[str, Any] = {}
            for layer in reversed(merged.maps):
                flat.update(layer)
            merged = flat
        return jinja2.runtime.new_context(
            self.environment, self.name, self.blocks, vars, shared, merged, locals
        )


class Environment(jinja2.Environment):
    """Also: templates are not re-checked on disk for every page (``auto_reload`` off); a build
    reads each template once, and keeps the few it has in a plain dict (``cache_size=-1``) rather
    than jinja's locked LRU cache, which every page, ``extends`` and ``include`` looks up."""

    context_class = Context
    template_class = Template
    code_generator_class = CodeGenerator
    escape_output = staticmethod(escape_output)

    def __init__(self, **options: Any) -> None:
        options.setdefault("auto_reload", False)
        options.setdefault("cache_size", -1)
        super().__init__(**options)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)
