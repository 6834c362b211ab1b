/* Intentionally empty (see _ext/light_pages.py): the theme's stylesheet draws its icons with
   the Font Awesome web font, so the 1.5 MB script that would redraw them as SVG is not loaded. */
