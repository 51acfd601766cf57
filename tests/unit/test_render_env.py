"""The renderer's jinja environment: dict lookups and template calls behave as jinja's own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup, escape

from generator.render.env import Environment, escape_output


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


class HasHtml:
    def __html__(self) -> str:
        return "<b>ok</b>"


class StrChild(str):
    pass


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "<a href='x'>\"&\"</a>",
        "",
        "é ∫ \U0001f600",
        Markup("<i>safe</i>"),
        HasHtml(),
        5,
        2.5,
        None,
        StrChild("<sub>"),
        ["<list>"],
    ],
)
def test_escape_output_is_markupsafe_escape_as_text(value: Any) -> None:
    got = escape_output(value)
    assert got == str(escape(value))
    assert type(got) in (str, Markup)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_escape_output_matches_markupsafe_on_any_text(text: str) -> None:
    assert escape_output(text) == str(escape(text))


PAGES = {
    "base.html": "<title>{% block title %}T & {{ site }}{% endblock %}</title>{% block main %}{% endblock %}"
    "{% include 'inc.html' %}",
    "inc.html": "<footer>{{ who }} {{ link('a b') }}</footer>",
    "page.html": """{% extends "base.html" %}
{% macro item(x) %}<li title="{{ x }}">{{ x|upper }}{{ caller() if caller else "" }}</li>{% endmacro %}
{% block title %}{{ super() }} · {{ title }}{% endblock %}
{% block main %}{% set note %}<em>{{ title }}</em>{% endset %}{{ note }}
<ul>{% for v in values %}{{ item(v) }}{% endfor %}{% call item("<c>") %}<q>{{ title }}</q>{% endcall %}</ul>
{{ values|join(", ") }} {{ safe_part }} {{ n + 1 }} {{ title ~ "<&>" }} {{ data|tojson }}
{{ maybe or "none" }}
{% autoescape false %}{{ title }}{% endautoescape %}{% if title %}{{ title[:3] }}{% endif %}
{% endblock %}""",
}


def test_pages_are_the_same_bytes_as_with_a_plain_jinja_environment() -> None:
    context: dict[str, Any] = {
        "site": "S<1>",
        "title": "A 'quoted' <title> & more",
        "values": ["<x>", "y&z", 3],
        "safe_part": Markup("<b>bold</b>"),
        "n": 41,
        "data": {"k": "</script><!--"},
        "maybe": None,
        "who": HasHtml(),
        "link": lambda to: "../" + to,
    }
    outs = []
    for cls in (jinja2.Environment, Environment):
        env = cls(loader=jinja2.DictLoader(PAGES), autoescape=True, trim_blocks=True, lstrip_blocks=True)
        outs.append(env.get_template("page.html").render(**context))
    assert outs[0] == outs[1]
    assert "&lt;x&gt;" in outs[1] and "<b>bold</b>" in outs[1] and "A 'quoted' <title> & more" in outs[1]


def test_merged_globals_layer_as_jinja_does() -> None:
    """Contexts get the globals merged into a dict: a template's own globals overlay the
    environment's, in the page and in what it includes, and a global added after a template
    was loaded is seen by its next render, as with jinja's ChainMap."""
    env = _env()
    env.loader = jinja2.DictLoader(
        {"inc.html": "[{{ a }} {{ b }}]", "page.html": "{{ a }} {% include 'inc.html' %}"}
    )
    env.globals.update(a="env-a", b="env-b")
    page = env.get_template("page.html", globals={"a": "own-a"})
    assert page.render() == "own-a [own-a env-b]"
    env.globals["b"] = "later-b"
    assert page.render() == "own-a [own-a later-b]"
    assert page.render(a="var-a") == "var-a [var-a later-b]"
    plain = jinja2.Environment(autoescape=True, loader=env.loader)
    plain.globals.update(a="env-a", b="later-b")
    assert plain.get_template("page.html", globals={"a": "own-a"}).render() == page.render()
