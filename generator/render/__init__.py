"""RENDER: verified records and site data -> ``OutputFile`` (dest path + bytes). No IO but templates."""

from generator.render.site import OutputFile, Renderer

__all__ = ["OutputFile", "Renderer"]
