"""The renderer's jinja environment: dict lookups and template calls behave as jinja's own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jinja2
import pytest

from generator.render.env import Environment


def _env() -> Environment:
    return Environment(autoescape=True, undefined=jinja2.StrictUndefined)


class Holder:
    def __init__(self) -> None:
        self.prefix = "m:"

    def method(self, value: str) -> str:
        return self.prefix + value


def test_plain_functions_and_methods_get_only_their_arguments() -> None:
    env = _env()
    tpl = env.from_string(
        "{{ f('a') }} {{ h.method('b') }} {% for x in ['c'] %}{{ f(x) }}{% endfor %}"
        "{% block b %}{{ f('<d>') }}{% endblock %} {{ kw(a=1, b=2) }}"
    )
    out = tpl.render(f=lambda v: "f:" + v, h=Holder(), kw=lambda **k: sorted(k.items()))
    assert out == "f:a m:b f:cf:&lt;d&gt; [(&#39;a&#39;, 1), (&#39;b&#39;, 2)]"


def test_marked_functions_still_get_the_context_or_environment() -> None:
    @jinja2.pass_context
    def who(ctx: Any, suffix: str) -> str:
        return str(ctx["name"]) + suffix

    @jinja2.pass_environment
    def env_name(environment: Any) -> str:
        return type(environment).__name__

    class CallsWithContext:
        @jinja2.pass_context
        def __call__(self, ctx: Any) -> str:
            return "obj:" + str(ctx["name"])

    env = _env()
    tpl = env.from_string(
        "{{ who('!') }} {{ env_name() }} {{ obj() }} {% for i in [1] %}{{ who(i|string) }}{% endfor %}"
    )
    out = tpl.render(name="n", who=who, env_name=env_name, obj=CallsWithContext())
    assert out == "n! Environment obj:n n1"


def test_stop_iteration_becomes_undefined_as_in_jinja() -> None:
    def stops() -> str:
        raise StopIteration

    def gen() -> Iterator[int]:
        yield 1

    env = _env()
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ stops() }}").render(stops=stops)
    assert env.from_string("{{ g() is defined }}").render(g=gen) == "True"
