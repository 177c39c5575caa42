"""The poem as a picture card (issue 17): `render_card(poem) → PNG bytes`.

`fonts` finds the faces through fontconfig, `render` lays the poem out and paints it (Pillow),
`send` is the Telegram side (the 🖼 button, /card, the Redis cache, the file_id reuse).
"""

from bot.card.fonts import INSTALL, NoFontError, find_faces
from bot.card.render import Layout, layout, render_card

__all__ = ["INSTALL", "Layout", "NoFontError", "find_faces", "layout", "render_card"]
