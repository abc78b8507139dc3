"""Anki packages (.apkg, .colpkg): reading them safely and rendering their notes.

`package` opens the zip and the SQLite collection inside it with every size,
time and row bound a hostile upload needs; `render` turns notes into the cards
Anki itself would show (templates, conditionals, cloze). Pure Python with no
Django import and no dependency on Anki's own runtime.
"""
